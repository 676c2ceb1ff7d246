// Package storagescheduling tests WaitForFirstConsumer scheduling and the storage protection
// finalizers inside a real skiff server (embedded etcd, API server, scheduler and controller
// manager on; no node agent): Node objects and local PersistentVolumes are created by hand, and
// the tests read back bindings, claim and volume state and events as a user would.
package storagescheduling
