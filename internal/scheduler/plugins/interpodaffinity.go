package plugins

import (
	"context"
	"math"

	"k8s.io/apimachinery/pkg/labels"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

const interPodKey = "InterPodAffinity"

// HardPodAffinityWeight is what an existing pod's required affinity term that matches the incoming
// pod adds to the score of its topology domain (upstream's default).
const HardPodAffinityWeight = 1

type affinityFilterState struct {
	// existingAnti counts existing pods whose required anti-affinity terms select the incoming
	// pod, per topology domain of the existing pod's node.
	existingAnti map[topologyPair]int
	// affinity counts existing pods matching all the incoming pod's required affinity terms, per
	// term's topology domain; anti those matching each anti-affinity term.
	affinity map[topologyPair]int
	anti     map[topologyPair]int
}

// InterPodAffinity enforces required pod affinity and anti-affinity, both the incoming pod's and
// existing pods' anti-affinity against the incoming pod, and scores preferred terms (both ways).
type InterPodAffinity struct{}

func (InterPodAffinity) Name() string { return interPodKey }

func (InterPodAffinity) PreFilter(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, snap *fw.Snapshot) *fw.Status {
	if pod.ParseError != nil {
		return fw.NewStatus(fw.UnschedulableAndUnresolvable, pod.ParseError.Error())
	}
	s := &affinityFilterState{existingAnti: map[topologyPair]int{}, affinity: map[topologyPair]int{}, anti: map[topologyPair]int{}}
	podNS := snap.NSLabels(pod.Pod.Namespace)
	for _, n := range snap.WithRequiredAntiAffinity() {
		for _, ep := range n.PodsWithRequiredAntiAffinity {
			for i := range ep.RequiredAntiAffinity {
				t := &ep.RequiredAntiAffinity[i]
				if v, ok := n.Node.Labels[t.TopologyKey]; ok && t.Matches(pod.Pod, podNS) {
					s.existingAnti[topologyPair{t.TopologyKey, v}]++
				}
			}
		}
	}
	if len(pod.RequiredAffinity) > 0 || len(pod.RequiredAntiAffinity) > 0 {
		for _, n := range snap.List() {
			for _, ep := range n.Pods {
				epNS := snap.NSLabels(ep.Pod.Namespace)
				if len(pod.RequiredAffinity) > 0 && matchesAll(pod.RequiredAffinity, ep, epNS) {
					for _, t := range pod.RequiredAffinity {
						if v, ok := n.Node.Labels[t.TopologyKey]; ok {
							s.affinity[topologyPair{t.TopologyKey, v}]++
						}
					}
				}
				for i := range pod.RequiredAntiAffinity {
					t := &pod.RequiredAntiAffinity[i]
					if v, ok := n.Node.Labels[t.TopologyKey]; ok && t.Matches(ep.Pod, epNS) {
						s.anti[topologyPair{t.TopologyKey, v}]++
					}
				}
			}
		}
	}
	state.Write(interPodKey, s)
	return nil
}

func matchesAll(terms []fw.AffinityTerm, p *fw.PodInfo, nsLabels labels.Set) bool {
	for i := range terms {
		if !terms[i].Matches(p.Pod, nsLabels) {
			return false
		}
	}
	return true
}

func (InterPodAffinity) Filter(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	s, _ := state.Read(interPodKey).(*affinityFilterState)
	if s == nil {
		return nil
	}
	if !satisfiesAffinity(s, pod, n) {
		return fw.NewStatus(fw.UnschedulableAndUnresolvable, ReasonAffinity)
	}
	for _, t := range pod.RequiredAntiAffinity {
		if v, ok := n.Node.Labels[t.TopologyKey]; ok && s.anti[topologyPair{t.TopologyKey, v}] > 0 {
			return fw.NewStatus(fw.Unschedulable, ReasonAntiAffinity)
		}
	}
	if len(s.existingAnti) > 0 {
		for k, v := range n.Node.Labels {
			if s.existingAnti[topologyPair{k, v}] > 0 {
				return fw.NewStatus(fw.Unschedulable, ReasonExistingAnti)
			}
		}
	}
	return nil
}

// satisfiesAffinity: every term's domain on this node must hold a matching pod. The first pod of
// a group that selects itself may go anywhere that has the topology keys, when no pod anywhere
// matches yet; otherwise such a group could never start.
func satisfiesAffinity(s *affinityFilterState, pod *fw.PodInfo, n *fw.NodeInfo) bool {
	if len(pod.RequiredAffinity) == 0 {
		return true
	}
	podsExist := true
	for _, t := range pod.RequiredAffinity {
		v, ok := n.Node.Labels[t.TopologyKey]
		if !ok {
			return false
		}
		if s.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
			podsExist = false
		}
	}
	if podsExist {
		return true
	}
	if len(s.affinity) == 0 && matchesAll(pod.RequiredAffinity, pod, nil) {
		return true
	}
	return false
}

const interPodScoreKey = "InterPodAffinity/score"

type affinityScoreState struct {
	topo map[string]map[string]int64
}

func (InterPodAffinity) PreScore(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, _ []*fw.NodeInfo, snap *fw.Snapshot) *fw.Status {
	s := &affinityScoreState{topo: map[string]map[string]int64{}}
	add := func(key string, node *fw.NodeInfo, w int64) {
		v, ok := node.Node.Labels[key]
		if !ok || w == 0 {
			return
		}
		m := s.topo[key]
		if m == nil {
			m = map[string]int64{}
			s.topo[key] = m
		}
		m[v] += w
	}
	hasPreferred := len(pod.PreferredAffinity)+len(pod.PreferredAntiAffinity) > 0
	nodes := snap.WithAffinity()
	if hasPreferred {
		nodes = snap.List()
	}
	podNS := snap.NSLabels(pod.Pod.Namespace)
	for _, n := range nodes {
		list := n.PodsWithAffinity
		if hasPreferred {
			list = n.Pods
		}
		for _, ep := range list {
			epNS := snap.NSLabels(ep.Pod.Namespace)
			for i := range pod.PreferredAffinity {
				if t := &pod.PreferredAffinity[i]; t.Matches(ep.Pod, epNS) {
					add(t.TopologyKey, n, int64(t.Weight))
				}
			}
			for i := range pod.PreferredAntiAffinity {
				if t := &pod.PreferredAntiAffinity[i]; t.Matches(ep.Pod, epNS) {
					add(t.TopologyKey, n, -int64(t.Weight))
				}
			}
			for i := range ep.RequiredAffinity {
				if t := &ep.RequiredAffinity[i]; t.Matches(pod.Pod, podNS) {
					add(t.TopologyKey, n, HardPodAffinityWeight)
				}
			}
			for i := range ep.PreferredAffinity {
				if t := &ep.PreferredAffinity[i]; t.Matches(pod.Pod, podNS) {
					add(t.TopologyKey, n, int64(t.Weight))
				}
			}
			for i := range ep.PreferredAntiAffinity {
				if t := &ep.PreferredAntiAffinity[i]; t.Matches(pod.Pod, podNS) {
					add(t.TopologyKey, n, -int64(t.Weight))
				}
			}
		}
	}
	state.Write(interPodScoreKey, s)
	if len(s.topo) == 0 {
		// No term concerns this pod either way: every node scores the same.
		return fw.NewStatus(fw.Skip)
	}
	return nil
}

func (InterPodAffinity) Score(_ context.Context, state *fw.CycleState, _ *fw.PodInfo, n *fw.NodeInfo) int64 {
	s, _ := state.Read(interPodScoreKey).(*affinityScoreState)
	if s == nil {
		return 0
	}
	var score int64
	for key, vals := range s.topo {
		if v, ok := n.Node.Labels[key]; ok {
			score += vals[v]
		}
	}
	return score
}

// Normalize maps [min, max] onto [0, 100]; equal scores all become 0.
func (InterPodAffinity) Normalize(_ context.Context, _ *fw.CycleState, _ *fw.PodInfo, scores []int64) {
	var min, max int64 = math.MaxInt64, math.MinInt64
	for _, s := range scores {
		min, max = minmax(min, max, s)
	}
	diff := max - min
	for i, s := range scores {
		if diff > 0 {
			scores[i] = fw.MaxNodeScore * (s - min) / diff
		} else {
			scores[i] = 0
		}
	}
}

func minmax(min, max, v int64) (int64, int64) {
	if v < min {
		min = v
	}
	if v > max {
		max = v
	}
	return min, max
}
