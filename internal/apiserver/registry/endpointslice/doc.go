// Package endpointslice is the strategy for discovery.k8s.io/v1 EndpointSlices: a fixed address
// type, addresses valid for that type, and well-formed, uniquely named ports.
//
// It must never derive slices from services and pods: the EndpointSlice controller owns that.
package endpointslice
