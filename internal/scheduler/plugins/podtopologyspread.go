package plugins

import (
	"context"
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

const spreadKey = "PodTopologySpread"

type constraint struct {
	maxSkew      int32
	topologyKey  string
	minDomains   int32
	selector     labels.Selector
	honorTaints  bool
	honorAffinty bool
}

type topologyPair struct{ key, value string }

type spreadFilterState struct {
	constraints []constraint
	// counts of matching pods per domain, domains of eligible nodes included with 0.
	counts map[topologyPair]int
	// minMatch per constraint (index-aligned).
	minMatch  []int
	selfMatch []int
}

type spreadScoreState struct {
	constraints []constraint
	counts      map[topologyPair]int
	weights     []float64
	ignored     map[string]bool
	nodes       []*fw.NodeInfo
}

// PodTopologySpread enforces DoNotSchedule topologySpreadConstraints (maxSkew, minDomains,
// nodeAffinityPolicy, nodeTaintsPolicy) and scores ScheduleAnyway ones, as upstream.
type PodTopologySpread struct{}

func (PodTopologySpread) Name() string { return spreadKey }

// parseConstraints builds the constraints of one kind, merging matchLabelKeys into the selector.
func parseConstraints(pod *corev1.Pod, kind corev1.UnsatisfiableConstraintAction) ([]constraint, error) {
	var out []constraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != kind {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return nil, err
		}
		if c.LabelSelector == nil {
			sel = labels.Nothing()
		}
		for _, k := range c.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				r, err := labels.NewRequirement(k, selection.Equals, []string{v})
				if err != nil {
					return nil, err
				}
				sel = sel.Add(*r)
			}
		}
		ct := constraint{maxSkew: c.MaxSkew, topologyKey: c.TopologyKey, selector: sel, minDomains: 1,
			honorAffinty: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor,
			honorTaints:  c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor}
		if c.MinDomains != nil {
			ct.minDomains = *c.MinDomains
		}
		out = append(out, ct)
	}
	return out, nil
}

func hasAllKeys(node *corev1.Node, cs []constraint) bool {
	for _, c := range cs {
		if _, ok := node.Labels[c.topologyKey]; !ok {
			return false
		}
	}
	return true
}

// eligible says whether a node's domain takes part in the constraint's counting.
func eligible(pod *corev1.Pod, req nodeaffinity.RequiredNodeAffinity, c *constraint, node *corev1.Node) bool {
	if c.honorAffinty {
		if ok, _ := req.Match(node); !ok {
			return false
		}
	}
	if c.honorTaints {
		for i := range node.Spec.Taints {
			t := &node.Spec.Taints[i]
			if (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) && !tolerates(pod, t) {
				return false
			}
		}
	}
	return true
}

func countMatching(n *fw.NodeInfo, ns string, sel labels.Selector) int {
	count := 0
	for _, p := range n.Pods {
		if p.Pod.Namespace == ns && p.Pod.DeletionTimestamp == nil && sel.Matches(labels.Set(p.Pod.Labels)) {
			count++
		}
	}
	return count
}

func (PodTopologySpread) PreFilter(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, snap *fw.Snapshot) *fw.Status {
	cs, err := parseConstraints(pod.Pod, corev1.DoNotSchedule)
	if err != nil {
		return fw.NewStatus(fw.UnschedulableAndUnresolvable, err.Error())
	}
	if len(cs) == 0 {
		return fw.NewStatus(fw.Skip)
	}
	s := &spreadFilterState{constraints: cs, counts: map[topologyPair]int{}}
	req := nodeaffinity.GetRequiredNodeAffinity(pod.Pod)
	for _, n := range snap.List() {
		if !hasAllKeys(n.Node, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if !eligible(pod.Pod, req, c, n.Node) {
				continue
			}
			pair := topologyPair{c.topologyKey, n.Node.Labels[c.topologyKey]}
			s.counts[pair] += countMatching(n, pod.Pod.Namespace, c.selector)
		}
	}
	for _, c := range cs {
		min, domains := math.MaxInt, 0
		for pair, n := range s.counts {
			if pair.key != c.topologyKey {
				continue
			}
			domains++
			if n < min {
				min = n
			}
		}
		// Fewer domains than minDomains: the global minimum counts as 0, so pods cannot pile
		// into the domains that exist.
		if domains < int(c.minDomains) || domains == 0 {
			min = 0
		}
		s.minMatch = append(s.minMatch, min)
		self := 0
		if c.selector.Matches(labels.Set(pod.Pod.Labels)) {
			self = 1
		}
		s.selfMatch = append(s.selfMatch, self)
	}
	state.Write(spreadKey, s)
	return nil
}

func (PodTopologySpread) Filter(_ context.Context, state *fw.CycleState, _ *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	s, _ := state.Read(spreadKey).(*spreadFilterState)
	if s == nil {
		return nil
	}
	for i, c := range s.constraints {
		v, ok := n.Node.Labels[c.topologyKey]
		if !ok {
			return fw.NewStatus(fw.UnschedulableAndUnresolvable, ReasonSpreadMissingLabel)
		}
		skew := s.counts[topologyPair{c.topologyKey, v}] + s.selfMatch[i] - s.minMatch[i]
		if skew > int(c.maxSkew) {
			return fw.NewStatus(fw.Unschedulable, ReasonSpread)
		}
	}
	return nil
}

const spreadScoreKey = "PodTopologySpread/score"

func (PodTopologySpread) PreScore(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, nodes []*fw.NodeInfo, snap *fw.Snapshot) *fw.Status {
	cs, err := parseConstraints(pod.Pod, corev1.ScheduleAnyway)
	if err != nil || len(cs) == 0 {
		state.Write(spreadScoreKey, (*spreadScoreState)(nil))
		return fw.NewStatus(fw.Skip)
	}
	s := &spreadScoreState{constraints: cs, counts: map[topologyPair]int{}, ignored: map[string]bool{}, nodes: nodes}
	domains := make([]map[string]bool, len(cs))
	for i := range domains {
		domains[i] = map[string]bool{}
	}
	for _, n := range nodes {
		if !hasAllKeys(n.Node, cs) {
			s.ignored[n.Node.Name] = true
			continue
		}
		for i, c := range cs {
			domains[i][n.Node.Labels[c.topologyKey]] = true
		}
	}
	req := nodeaffinity.GetRequiredNodeAffinity(pod.Pod)
	for _, n := range snap.List() {
		if !hasAllKeys(n.Node, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if c.topologyKey == corev1.LabelHostname || !domains[i][n.Node.Labels[c.topologyKey]] || !eligible(pod.Pod, req, c, n.Node) {
				continue
			}
			s.counts[topologyPair{c.topologyKey, n.Node.Labels[c.topologyKey]}] += countMatching(n, pod.Pod.Namespace, c.selector)
		}
	}
	for i := range cs {
		s.weights = append(s.weights, math.Log(float64(len(domains[i])+2)))
	}
	state.Write(spreadScoreKey, s)
	return nil
}

func (PodTopologySpread) Score(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) int64 {
	s, _ := state.Read(spreadScoreKey).(*spreadScoreState)
	if s == nil || s.ignored[n.Node.Name] {
		return 0
	}
	var score float64
	for i, c := range s.constraints {
		var cnt int
		if c.topologyKey == corev1.LabelHostname {
			cnt = countMatching(n, pod.Pod.Namespace, c.selector)
		} else {
			cnt = s.counts[topologyPair{c.topologyKey, n.Node.Labels[c.topologyKey]}]
		}
		score += float64(cnt)*s.weights[i] + float64(c.maxSkew-1)
	}
	return int64(math.Round(score))
}

// Normalize makes fewer matching pods better: 100 × (max + min − score) / max over the nodes
// that have every topology key; nodes lacking one get 0.
func (PodTopologySpread) Normalize(_ context.Context, state *fw.CycleState, _ *fw.PodInfo, scores []int64) {
	s, _ := state.Read(spreadScoreKey).(*spreadScoreState)
	if s == nil {
		return
	}
	var min, max int64 = math.MaxInt64, 0
	for i, sc := range scores {
		if s.ignored[s.nodes[i].Node.Name] {
			continue
		}
		if sc < min {
			min = sc
		}
		if sc > max {
			max = sc
		}
	}
	for i, sc := range scores {
		switch {
		case s.ignored[s.nodes[i].Node.Name]:
			scores[i] = 0
		case max == 0:
			scores[i] = fw.MaxNodeScore
		default:
			scores[i] = fw.MaxNodeScore * (max + min - sc) / max
		}
	}
}
