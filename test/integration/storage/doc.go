// Package storage holds integration tests of the API/controller side of persistent storage: a
// real API server on embedded etcd with the controller manager on, no node agents (Nodes with
// the local-path root annotation are created by hand, and the test plays the agent's part of
// removing the cleanup finalizer), driven with client-go and the embedded kubectl: the default
// StorageClass, static binding, Immediate and WaitForFirstConsumer provisioning, reclaim,
// expansion and the kubectl columns. It has no production code.
package storage
