package plugins

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

// node builds a Ready node with cpu (milli), memory and pods allocatable.
func node(name string, milliCPU, mem, pods int64, mutate ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(milliCPU, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
				corev1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func withLabels(kv ...string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaints(ts ...corev1.Taint) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.Taints = ts }
}

var podSeq int

// pod builds a pod with one container requesting cpu (milli) and memory (0 = unset).
func pod(name string, milliCPU, mem int64, mutate ...func(*corev1.Pod)) *corev1.Pod {
	podSeq++
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(fmt.Sprintf("%s-%d", name, podSeq))},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: requests(milliCPU, mem)}}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func requests(milliCPU, mem int64) corev1.ResourceList {
	rl := corev1.ResourceList{}
	if milliCPU > 0 {
		rl[corev1.ResourceCPU] = *resource.NewMilliQuantity(milliCPU, resource.DecimalSI)
	}
	if mem > 0 {
		rl[corev1.ResourceMemory] = *resource.NewQuantity(mem, resource.BinarySI)
	}
	return rl
}

func podLabels(kv ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func onNode(n string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

// nodeInfo builds a NodeInfo holding pods.
func nodeInfo(n *corev1.Node, pods ...*corev1.Pod) *fw.NodeInfo {
	ni := fw.NewNodeInfo()
	ni.SetNode(n)
	for _, p := range pods {
		p.Spec.NodeName = n.Name
		ni.AddPod(fw.NewPodInfo(p))
	}
	return ni
}

// filterAll runs a plugin's PreFilter (if any) then Filter on every node, returning each node's
// message ("" when it passes).
func filterAll(pl fw.FilterPlugin, p *corev1.Pod, nodes ...*fw.NodeInfo) map[string]string {
	ctx := context.Background()
	snap := fw.NewSnapshot(nodes...)
	state := fw.NewCycleState()
	pi := fw.NewPodInfo(p)
	out := map[string]string{}
	skipped := false
	if pf, ok := pl.(fw.PreFilterPlugin); ok {
		st := pf.PreFilter(ctx, state, pi, snap)
		skipped = st.IsSkip()
		if !st.IsSuccess() && !skipped {
			for _, n := range nodes {
				out[n.Name()] = "prefilter: " + st.Message()
			}
			return out
		}
	}
	for _, n := range nodes {
		msg := pl.Filter(ctx, state, pi, n).Message()
		if skipped && msg != "" {
			// The framework would not have asked: a skip must only be claimed where the filter
			// passes every node anyway.
			msg = "skipped, but the filter says: " + msg
		}
		out[n.Name()] = msg
	}
	return out
}

// scoreAll runs a score plugin over nodes and normalises.
func scoreAll(pl fw.ScorePlugin, p *corev1.Pod, nodes ...*fw.NodeInfo) (scores []int64) {
	ctx := context.Background()
	snap := fw.NewSnapshot(nodes...)
	state := fw.NewCycleState()
	pi := fw.NewPodInfo(p)
	if pf, ok := pl.(fw.PreFilterPlugin); ok {
		pf.PreFilter(ctx, state, pi, snap)
	}
	skipped := pl.PreScore(ctx, state, pi, nodes, snap).IsSkip()
	defer func() {
		// A skipped score must be one that would have been the same for every node.
		if skipped && len(scores) > 0 && slices.ContainsFunc(scores, func(s int64) bool { return s != scores[0] }) {
			panic(fmt.Sprintf("%s skipped its score, but scores differ by node: %v", pl.Name(), scores))
		}
	}()
	scores = make([]int64, len(nodes))
	for i, n := range nodes {
		scores[i] = pl.Score(ctx, state, pi, n)
	}
	pl.Normalize(ctx, state, pi, scores)
	return scores
}
