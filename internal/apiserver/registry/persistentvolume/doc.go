// Package persistentvolume is the strategy for core/v1 PersistentVolumes: the Retain and Filesystem
// defaults, capacity and access modes, exactly one volume source, and a source that never changes.
//
// It must never bind volumes to claims or provision storage: the PV controller and the provisioners
// own that.
package persistentvolume
