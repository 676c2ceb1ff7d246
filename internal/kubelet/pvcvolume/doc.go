// Package pvcvolume is the node agent's volume.Plugin for persistentVolumeClaim volumes: it
// resolves a pod's claim to its bound PersistentVolume, makes the volume's directory available
// (a local-path volume's directory is created under the node's root when missing, a hostPath
// volume's type is applied, a hand-made local volume must exist) and hands the volume manager
// that directory, which containers bind directly (readOnly and subPath are the manager's, as for
// every volume). Until the claim is Bound it fails with a ClaimError, which the agent reports as
// upstream's FailedMount event while the pod stays ContainerCreating; once set up, the resolution
// is recorded in the volume's directory so that later syncs ask the API server nothing.
//
// It must never write to the API, never create or remove a directory outside what localpath
// owns (it only ensures a local-path volume's own directory), never mount a volume that belongs
// to another node or to another claim, and never delete a volume's data: tearing down forgets
// the resolution, the data stays where the PV says.
package pvcvolume
