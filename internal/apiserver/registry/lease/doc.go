// Package lease is the strategy for coordination.k8s.io/v1 Leases: positive durations, non-negative
// transition counts, and a preferred holder only alongside a strategy.
//
// It must never decide who holds a lease: leader election happens in clients through optimistic
// concurrency on the object.
package lease
