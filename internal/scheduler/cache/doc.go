// Package cache is the scheduler's memory of the cluster: nodes and the pods bound to them as
// the informers report them, plus the pods the scheduler has just bound itself ("assumed") whose
// binding the informers have not confirmed yet, so that pods scheduled in a burst see each
// other's requests. UpdateSnapshot copies what changed into the snapshot one scheduling cycle
// reads, so a cycle sees one consistent state.
//
// It must never talk to the API server or decide where a pod goes; it only keeps accounts.
package cache
