// Package persistentvolume is the PV controller ("persistentvolume-binder"): it binds
// PersistentVolumeClaims to PersistentVolumes in both directions (a claim naming its volume, a
// volume pre-bound to a claim through claimRef, or the best Available match from volumematch),
// writes upstream's annotations (pv.kubernetes.io/bind-completed, bound-by-controller) and
// phases (claims Pending/Bound/Lost, volumes Available/Bound/Released/Failed), reclaims released
// volumes (Retain keeps them Released; Delete deletes the object of a volume it knows how to
// delete, and marks any other Failed with upstream's VolumeFailedDelete), provisions claims of
// the built-in skiff.dev/local-path class (Immediate: on a node it picks; WaitForFirstConsumer:
// on the node the scheduler wrote in volume.kubernetes.io/selected-node), and grows provisioned
// volumes when a claim's request grows.
//
// It must never touch a node's file system: the directory of a local-path volume is created and
// removed by that node's agent, which also removes the skiff.dev/local-path-cleanup finalizer;
// this controller removes it only once the volume's Node no longer exists (no agent is left to
// do it). It never picks nodes for WaitForFirstConsumer claims nor free volumes for them (the
// scheduler does), and never removes the protection finalizers (the protection controllers do).
//
// Usage:
//
//	c, err := persistentvolume.New(persistentvolume.Config{Client: cs, Informers: f, Recorder: r, Logger: l})
//	go c.Run(ctx, 1)
package persistentvolume
