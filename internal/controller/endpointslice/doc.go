// Package endpointslice is the EndpointSlice controller: for every Service with a selector it
// keeps EndpointSlices (labelled kubernetes.io/service-name and managed by
// endpointslice-controller.k8s.io, owned by the Service) holding one endpoint per selected pod
// and address family, with ready/serving/terminating conditions, hostname, node name and pod
// reference, grouped by the ports the pod's targetPorts resolve to, at most MaxEndpointsPerSlice
// to a slice. It changes as few slices as it can: endpoints stay in the slice they are in, new
// ones fill the room left before a slice is created, and a Service with no endpoints keeps one
// empty placeholder slice. Pod changes are batched for a short period.
//
// It must never touch slices it does not manage (the API server's kubernetes slices, the cluster
// DNS's, a user's), and never act on a cache older than its own last writes: it waits until the
// informer has seen them, so that a slice it created is not created twice.
//
// Usage:
//
//	c, err := endpointslice.New(endpointslice.Config{Client: cs, Informers: informers, Logger: logger})
//	go c.Run(ctx, 5)
package endpointslice
