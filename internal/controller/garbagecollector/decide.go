package garbagecollector

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ownerState is what a live lookup found of one owner reference.
type ownerState int

const (
	// solid: the owner exists and is not deleting its dependents. References the collector cannot
	// resolve (a cluster-scoped dependent naming a namespaced kind) count as solid: such a
	// dependent is never collected, as upstream.
	solid ownerState = iota
	// dangling: no object with that uid exists where the reference points.
	dangling
	// waiting: the owner exists and waits for its dependents (foregroundDeletion).
	waiting
)

// actionKind is what the collector does with a dependent.
type actionKind int

const (
	keep actionKind = iota
	// dropOwners removes the references to dangling and waiting owners; a solid owner remains.
	dropOwners
	deleteObject
)

type verdict struct {
	action actionKind
	drop   []types.UID // dropOwners: the owner uids whose references go
	policy metav1.DeletionPropagation
	// unblock clears blockOwnerDeletion on the references to waiting owners before the foreground
	// delete, so that a cycle of foreground deletions cannot wait on itself.
	unblock []types.UID
}

// decide is the collector's rule for one live dependent m whose owners were looked up. hasDependents
// and dependentDeletingDependents describe m's own dependents in the graph.
func decide(m meta, states map[types.UID]ownerState, hasDependents, dependentDeletingDependents bool) verdict {
	if len(m.Owners) == 0 {
		return verdict{action: keep}
	}
	var nSolid int
	var gone, waitingFor []types.UID
	for _, r := range m.Owners {
		switch states[r.UID] {
		case solid:
			nSolid++
		case dangling:
			gone = append(gone, r.UID)
		case waiting:
			waitingFor = append(waitingFor, r.UID)
		}
	}
	switch {
	case nSolid > 0:
		if len(gone)+len(waitingFor) == 0 {
			return verdict{action: keep}
		}
		return verdict{action: dropOwners, drop: append(gone, waitingFor...)}
	case len(waitingFor) > 0 && hasDependents:
		// An owner waits for m and m has dependents of its own: delete m in foreground too, so the
		// wait reaches all the way down.
		v := verdict{action: deleteObject, policy: metav1.DeletePropagationForeground}
		if dependentDeletingDependents {
			v.unblock = waitingFor
		}
		return v
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case m.has(metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case m.has(metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		return verdict{action: deleteObject, policy: policy}
	}
}
