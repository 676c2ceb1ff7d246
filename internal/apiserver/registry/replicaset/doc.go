// Package replicaset owns the API rules for apps/v1 ReplicaSets: defaults, spec and status validation,
// the immutable selector, and the status.replicas field selector. It must never create or count pods;
// that is the ReplicaSet controller's work.
package replicaset
