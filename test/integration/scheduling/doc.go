// Package scheduling tests the scheduler inside a real skiff server (embedded etcd, API server,
// scheduler on; no node agent): Node objects are created through the API with capacity and a
// Ready condition, pods are created pending, and the tests read back bindings, conditions and
// events as a user would.
package scheduling
