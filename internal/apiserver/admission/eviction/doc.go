// Package eviction decides whether a pod may be evicted (the pods/eviction subresource) under its
// PodDisruptionBudget: it refuses with 429 while the budget allows no disruption, and otherwise
// takes one disruption from the budget's status and records the pod among its disruptedPods, with
// optimistic concurrency so that concurrent evictions cannot overdraw it.
//
// It never deletes the pod (the eviction handler does, after it allows) and never computes a
// budget's allowance: the disruption controller owns disruptionsAllowed.
package eviction
