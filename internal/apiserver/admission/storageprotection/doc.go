// Package storageprotection is the StorageObjectInUseProtection admission plugin: new
// PersistentVolumeClaims and PersistentVolumes get the finalizer that keeps them while in use
// (kubernetes.io/pvc-protection, kubernetes.io/pv-protection).
//
// It only adds the finalizers on create; removing them once the object is unused is the
// protection controllers' job, never this package's.
package storageprotection
