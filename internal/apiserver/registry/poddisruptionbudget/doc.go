// Package poddisruptionbudget is the strategy for policy/v1 PodDisruptionBudgets: exactly one of
// minAvailable and maxUnavailable as a count or percentage, a valid selector, and non-negative status
// counters.
//
// It must never count healthy pods or grant evictions: the disruption controller and the eviction
// subresource own that.
package poddisruptionbudget
