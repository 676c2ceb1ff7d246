// Package workloads holds integration tests of the ReplicaSet and Deployment controllers: a real
// API server on embedded etcd with the controller manager running, no node agents (the test-only
// fakenodes bind pods, renew their Leases and report pods Running and Ready through the API), driven with
// client-go and the embedded kubectl (rollout status, history, undo, scale, get columns).
// It has no production code.
package workloads
