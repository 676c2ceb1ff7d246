// Package podresources computes what a pod asks of its node in total: the effective requests and
// limits of its containers, init containers (sidecars included) and overhead, as the scheduler,
// LimitRanger and ResourceQuota all count them.
//
// It is pure arithmetic over a pod spec; it must never read or write cluster state.
package podresources
