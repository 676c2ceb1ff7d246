package plugins

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

const selectorSpreadKey = "SelectorSpread"

// zoneWeighting is the share of the score that spreading across zones gets when nodes have zones.
const zoneWeighting = 2.0 / 3.0

type selectorSpreadState struct {
	owner types.UID
	nodes []*fw.NodeInfo
}

// SelectorSpread spreads the pods of one controller (same namespace, same controller
// ownerReference) over nodes and, where nodes carry topology.kubernetes.io/zone, over zones: a node
// scores 100 × (most pods on a node − its pods) / most, blended two thirds with the same figure
// per zone. Pods without a controller are not spread.
type SelectorSpread struct{}

func (SelectorSpread) Name() string { return selectorSpreadKey }

func (SelectorSpread) PreScore(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, nodes []*fw.NodeInfo, _ *fw.Snapshot) *fw.Status {
	ref := metav1.GetControllerOf(pod.Pod)
	if ref == nil {
		state.Write(selectorSpreadKey, (*selectorSpreadState)(nil))
		return fw.NewStatus(fw.Skip)
	}
	state.Write(selectorSpreadKey, &selectorSpreadState{owner: ref.UID, nodes: nodes})
	return nil
}

func (SelectorSpread) Score(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) int64 {
	s, _ := state.Read(selectorSpreadKey).(*selectorSpreadState)
	if s == nil {
		return 0
	}
	var count int64
	for _, p := range n.Pods {
		if p.Pod.Namespace != pod.Pod.Namespace || p.Pod.DeletionTimestamp != nil {
			continue
		}
		if ref := metav1.GetControllerOf(p.Pod); ref != nil && ref.UID == s.owner {
			count++
		}
	}
	return count
}

func (SelectorSpread) Normalize(_ context.Context, state *fw.CycleState, _ *fw.PodInfo, scores []int64) {
	s, _ := state.Read(selectorSpreadKey).(*selectorSpreadState)
	if s == nil {
		return
	}
	var maxNode, maxZone int64
	zones := map[string]int64{}
	for i, c := range scores {
		if c > maxNode {
			maxNode = c
		}
		if z := s.nodes[i].Node.Labels[corev1.LabelTopologyZone]; z != "" {
			zones[z] += c
		}
	}
	for _, c := range zones {
		if c > maxZone {
			maxZone = c
		}
	}
	for i, c := range scores {
		f := float64(fw.MaxNodeScore)
		if maxNode > 0 {
			f = float64(fw.MaxNodeScore) * float64(maxNode-c) / float64(maxNode)
		}
		if len(zones) > 0 {
			if z := s.nodes[i].Node.Labels[corev1.LabelTopologyZone]; z != "" {
				zs := float64(fw.MaxNodeScore)
				if maxZone > 0 {
					zs = float64(fw.MaxNodeScore) * float64(maxZone-zones[z]) / float64(maxZone)
				}
				f = f*(1-zoneWeighting) + zoneWeighting*zs
			}
		}
		scores[i] = int64(f)
	}
}
