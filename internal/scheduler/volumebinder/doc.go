// Package volumebinder is the scheduler's binder for PersistentVolumeClaims whose StorageClass
// binds on first consumer (WaitForFirstConsumer), implementing plugins.DelayedBinder: per node it
// decides whether each unbound claim of a pod can be met there, by a free static volume whose
// node affinity admits the node (matched with package volumematch) or by provisioning (a class
// whose provisioner can place a volume on that node: for skiff.dev/local-path, a node carrying the
// skiff.dev/local-path-root annotation, within the class's allowedTopologies). Once the scheduler
// picks the node, Reserve holds the chosen static volumes in memory (so two pods never take one
// volume), PreBind writes the decisions (the volume's claimRef, or the claim's
// volume.kubernetes.io/selected-node annotation) and waits, woken by the informers, until the
// PV controller has bound every claim; Unreserve undoes what was not taken up.
//
// It must never bind a claim itself (that is the PV controller's work: it only pre-binds a volume
// or names a node), never provision, and never poll the API server.
//
// Usage (scheduler.New does this unless Config.DelayedBinder is set):
//
//	b, err := volumebinder.New(volumebinder.Config{Client: cs, Informers: factory, Logger: log})
//	plugins.VolumeBinding{..., Delayed: b}
package volumebinder
