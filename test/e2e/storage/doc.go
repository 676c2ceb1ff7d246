// Package storage runs persistent storage end to end on real containers: a testcluster of two
// node agents with the scheduler and the controller manager (PV controller with the built-in
// local-path provisioner, protection controllers, StatefulSets) and what a user of claims relies
// on: StatefulSet pods that find their own data again after a delete and after a restart of the
// whole server and never see another pod's, reclaim Delete removing a volume's directory and
// Retain keeping it (PV Released), a pod with a missing claim waiting with an event naming it,
// pods following their volumes to the node that holds them, each volume's directory under its
// own node's data dir, hand-made hostPath volumes mounted read-only and with subPath, and
// kubectl's view of it all. It is a test-only package: it must never be imported, and its tests
// must never sleep in place of waiting for a state.
package storage
