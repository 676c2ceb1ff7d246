// Package storageclass is the strategy for storage.k8s.io/v1 StorageClasses: the Delete and
// Immediate defaults, a qualified provisioner name, and provisioner, parameters, reclaim policy and
// binding mode that never change (existing volumes were made under them).
//
// It must never provision volumes: provisioners watch classes and claims themselves.
package storageclass
