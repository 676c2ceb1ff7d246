// Package plugins holds the scheduler's filter and score plugins, each in its own file named for
// the upstream plugin it mirrors (NodeUnschedulable, NodeName, TaintToleration, NodeAffinity,
// NodePorts, NodeResourcesFit, VolumeBinding, PodTopologySpread, InterPodAffinity, and the scores
// LeastAllocated, BalancedAllocation, SelectorSpread), with upstream's failure reasons, weights and
// normalisation to 0..100. Default assembles them in upstream's order.
//
// Plugins are pure functions of a pod and a framework.Snapshot (plus listers for volumes): they
// must never write to the API server, sleep, or keep state beyond one scheduling cycle's
// framework.CycleState.
package plugins
