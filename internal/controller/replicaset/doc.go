// Package replicaset is the ReplicaSet controller: it keeps the number of active pods a ReplicaSet
// selects equal to spec.replicas, adopting matching orphans and releasing pods it no longer
// selects, and reports replicas, fullyLabeledReplicas, readyReplicas, availableReplicas and the
// ReplicaFailure condition in the ReplicaSet's status.
//
// It follows the controller skeleton of DESIGN.md (New -> Run -> worker -> sync(key)); sync reads
// only the informer caches plus the writes it makes, and expectations keep a sync from acting twice
// on a cache that has not yet seen its own creates and deletes. It must never write a pod's status
// or spec beyond ownerReferences, and never delete a pod it does not control.
package replicaset
