// Package apiclient owns how skiff's own components (node agent, scheduler, controller manager,
// service proxy, cluster DNS) talk to the API server: in protobuf, as upstream's components do by
// default, which costs both ends a fraction of JSON's encoding and decoding on every request and
// watch event. It must not change who a component is (credentials, user agent) or its rate
// limits: those stay with the component.
package apiclient
