// Package resources is the catalog of everything the API server serves: for each group, version and
// resource its names, scope, subresources, table and strategy, assembled from the per-resource
// packages under registry/. Adding a resource to skiff means adding it here.
//
// It only describes; it must never hold state or talk to storage.
package resources
