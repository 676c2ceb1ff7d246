package plugins

import (
	"context"

	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

const nodeAffinityKey = "NodeAffinity"

type nodeAffinityState struct {
	required  nodeaffinity.RequiredNodeAffinity
	preferred *nodeaffinity.PreferredSchedulingTerms
}

// NodeAffinity filters by nodeSelector and required node affinity and scores by the summed
// weights of the preferred terms a node matches.
type NodeAffinity struct{}

func (NodeAffinity) Name() string { return nodeAffinityKey }

func (NodeAffinity) PreFilter(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, _ *fw.Snapshot) *fw.Status {
	s := &nodeAffinityState{required: nodeaffinity.GetRequiredNodeAffinity(pod.Pod)}
	if a := pod.Pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		p, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		if err != nil {
			return fw.NewStatus(fw.UnschedulableAndUnresolvable, err.Error())
		}
		s.preferred = p
	}
	state.Write(nodeAffinityKey, s)
	if a := pod.Pod.Spec.Affinity; len(pod.Pod.Spec.NodeSelector) == 0 &&
		(a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil) {
		return fw.NewStatus(fw.Skip) // every node matches
	}
	return nil
}

func nodeAffinityStateOf(state *fw.CycleState, pod *fw.PodInfo) *nodeAffinityState {
	if s, ok := state.Read(nodeAffinityKey).(*nodeAffinityState); ok {
		return s
	}
	return &nodeAffinityState{required: nodeaffinity.GetRequiredNodeAffinity(pod.Pod)}
}

func (NodeAffinity) Filter(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	// A malformed term matches nothing (the API server validates them; this is belt and braces).
	if ok, _ := nodeAffinityStateOf(state, pod).required.Match(n.Node); ok {
		return nil
	}
	return fw.NewStatus(fw.UnschedulableAndUnresolvable, ReasonNodeAffinity)
}

func (NodeAffinity) PreScore(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, _ []*fw.NodeInfo, _ *fw.Snapshot) *fw.Status {
	if nodeAffinityStateOf(state, pod).preferred == nil {
		return fw.NewStatus(fw.Skip)
	}
	return nil
}

func (NodeAffinity) Score(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) int64 {
	s := nodeAffinityStateOf(state, pod)
	if s.preferred == nil {
		return 0
	}
	return s.preferred.Score(n.Node)
}

func (NodeAffinity) Normalize(_ context.Context, _ *fw.CycleState, _ *fw.PodInfo, scores []int64) {
	fw.DefaultNormalize(scores, false)
}
