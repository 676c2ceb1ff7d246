// Package volumematch decides which PersistentVolume satisfies a PersistentVolumeClaim: storage
// class, access modes, capacity (the smallest that fits, the fewest extra access modes first),
// volume mode, label selector, a claim's spec.volumeName, a volume pre-bound to the claim through
// its claimRef, and (when a node is given) the volume's node affinity. The PV controller and the
// scheduler's volume binder both use it so that they never disagree about a match.
//
// It only reads the objects it is given: it must never mutate them, call the API or keep state
// (an in-flight reservation of a volume is the caller's business, passed in as Options.Exclude).
//
// Usage:
//
//	pv := volumematch.FindBestMatch(claim, pvs, node) // node may be nil
//	pv := volumematch.Find(claim, pvs, volumematch.Options{Node: node, Exclude: assumed})
package volumematch
