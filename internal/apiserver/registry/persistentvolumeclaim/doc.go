// Package persistentvolumeclaim is the strategy for core/v1 PersistentVolumeClaims: the Filesystem
// default, required access modes and storage request, and a spec that is frozen after creation except
// for storage growth, the volume attributes class and the binder's one-time volumeName.
//
// It must never bind or resize volumes: the PV controller and the resizer act on what this package
// accepts.
package persistentvolumeclaim
