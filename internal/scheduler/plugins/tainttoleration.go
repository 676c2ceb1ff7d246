package plugins

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

func untoleratedTaint(t *corev1.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

// TaintToleration rejects nodes with a NoSchedule or NoExecute taint the pod does not tolerate,
// and scores nodes by how few PreferNoSchedule taints the pod does not tolerate.
type TaintToleration struct{}

func (TaintToleration) Name() string { return "TaintToleration" }

func (TaintToleration) Filter(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	taint, found := corev1helpers.FindMatchingUntoleratedTaint(klogger, n.Node.Spec.Taints, pod.Pod.Spec.Tolerations,
		func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, true)
	if !found {
		return nil
	}
	return fw.NewStatus(fw.UnschedulableAndUnresolvable, untoleratedTaint(&taint))
}

func (TaintToleration) PreScore(context.Context, *fw.CycleState, *fw.PodInfo, []*fw.NodeInfo, *fw.Snapshot) *fw.Status {
	return nil
}

// Score counts the intolerable PreferNoSchedule taints; only tolerations that name that effect
// (or none) count, as upstream.
func (TaintToleration) Score(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) int64 {
	var tols []corev1.Toleration
	for _, t := range pod.Pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == corev1.TaintEffectPreferNoSchedule {
			tols = append(tols, t)
		}
	}
	var count int64
	for i := range n.Node.Spec.Taints {
		t := &n.Node.Spec.Taints[i]
		if t.Effect != corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !corev1helpers.TolerationsTolerateTaint(klogger, tols, t, true) {
			count++
		}
	}
	return count
}

func (TaintToleration) Normalize(_ context.Context, _ *fw.CycleState, _ *fw.PodInfo, scores []int64) {
	fw.DefaultNormalize(scores, true)
}
