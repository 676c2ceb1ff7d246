// Package defaultstorageclass is the DefaultStorageClass admission plugin: a new
// PersistentVolumeClaim that names no storage class (a nil storageClassName and no beta class
// annotation) gets the cluster's default class, the StorageClass annotated
// storageclass.kubernetes.io/is-default-class: "true" (the newest when several are, as upstream
// chooses). A claim that asks for "" explicitly keeps asking for no class.
//
// It only fills the class of claims being created; it must never refuse a claim, change a claim
// on update, or create or edit StorageClasses (the API server bootstrap owns the default one).
package defaultstorageclass
