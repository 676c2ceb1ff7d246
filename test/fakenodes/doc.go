// Package fakenodes stands in for the scheduler and the node agents of a few Node objects in
// tests and benchmarks that run an API server without real nodes. Everything goes through the
// API as the real components would: it registers Ready Nodes, renews each node's Lease in
// kube-node-lease (so a node lifecycle controller sees live nodes, and sees one go silent after
// Halt), binds the unbound pods it may place (pods pinned to one of its nodes by required node
// affinity on `metadata.name`, as DaemonSet pods are, and otherwise round robin) through
// pods/binding, reports bound pods Running and Ready, Running and not ready, Succeeded or Failed
// through pods/status as the test's Outcome says, each with a pod IP of its own (from
// 10.244.0.0/14), and finishes graceful deletions.
//
// It is test-only: it runs no containers, checks no resources, and must never be imported by
// skiff itself.
package fakenodes
