package plugins

import (
	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

// Default is upstream's default profile: filters in upstream's order (NodeReady after the taint
// check it stands in for) and the score weights of kube-scheduler's defaults (TaintToleration 3,
// NodeAffinity 2, PodTopologySpread 2, InterPodAffinity 2, the resource scores 1; SelectorSpread
// 1 as it had before upstream folded it into PodTopologySpread's system defaults).
func Default(volumes VolumeBinding) *fw.Profile {
	na, spread, ipa := NodeAffinity{}, PodTopologySpread{}, InterPodAffinity{}
	return &fw.Profile{
		PreFilters: []fw.PreFilterPlugin{NodeName{}, na, NodePorts{}, volumes, spread, ipa},
		Filters: []fw.FilterPlugin{
			NodeUnschedulable{}, NodeName{}, TaintToleration{}, NodeReady{}, na, NodePorts{},
			NodeResourcesFit{}, volumes, spread, ipa,
		},
		Scores: []fw.WeightedScore{
			{Plugin: TaintToleration{}, Weight: 3},
			{Plugin: na, Weight: 2},
			{Plugin: spread, Weight: 2},
			{Plugin: ipa, Weight: 2},
			{Plugin: LeastAllocated{}, Weight: 1},
			{Plugin: BalancedAllocation{}, Weight: 1},
			{Plugin: SelectorSpread{}, Weight: 1},
		},
	}
}
