// Package defaultchain assembles the admission plugins every skiff API server runs, in upstream's
// order: NamespaceLifecycle, LimitRanger, ServiceAccount, Priority, DefaultTolerationSeconds,
// DefaultStorageClass, StorageObjectInUseProtection, PersistentVolumeClaimResize, ResourceQuota
// (last, so that it charges only what the others let through).
//
// It only wires plugins together; it must never hold admission logic of its own.
package defaultchain
