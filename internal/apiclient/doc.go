// Package apiclient owns how skiff's own components (node agent, scheduler, controller manager,
// service proxy, cluster DNS) talk to the API server: in protobuf, as upstream's components are
// configured to. client-go's generated clients already prefer protobuf for built-in types when a
// config names no content type, but its hand-written calls (pods/binding, evictions, other
// subresources) and the event sinks do not; naming it in the config makes every typed request
// protobuf. It must not change who a component is (credentials, user agent) or its rate limits:
// those stay with the component.
package apiclient
