// Package fakenodes stands in for the scheduler and the node agents of a few Node objects in
// tests and benchmarks that run an API server without nodes: it registers Ready Nodes, binds the
// unbound pods it may place (pods pinned to one of its nodes by required node affinity on
// `metadata.name`, as DaemonSet pods are, and otherwise pods of the namespaces it was given,
// round robin) through pods/binding, reports bound pods Running and Ready, each with a pod IP of
// its own (from 10.244.0.0/14), through pods/status, and finishes graceful deletions, all through
// the API as the real components would.
//
// It is test-only: it runs no containers, checks no resources, and must never be imported by
// skiff itself.
package fakenodes
