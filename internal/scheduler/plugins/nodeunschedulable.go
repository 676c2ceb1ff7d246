package plugins

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

// Upstream's failure reasons, word for word: users and tools match on them.
const (
	ReasonUnschedulable      = "node(s) were unschedulable"
	ReasonNodeName           = "node(s) didn't match the requested node name"
	ReasonNodeAffinity       = "node(s) didn't match Pod's node affinity/selector"
	ReasonNodePorts          = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods        = "Too many pods"
	ReasonVolumeNodeAffinity = "node(s) had volume node affinity conflict"
	ReasonUnboundImmediate   = "pod has unbound immediate PersistentVolumeClaims"
	ReasonBindConflict       = "node(s) didn't find available persistent volumes to bind"
	ReasonSpreadMissingLabel = "node(s) didn't match pod topology spread constraints (missing required label)"
	ReasonSpread             = "node(s) didn't match pod topology spread constraints"
	ReasonAffinity           = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinity       = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAnti       = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// Taints the node lifecycle controller puts on nodes; the scheduler reads readiness through them.
const (
	TaintUnschedulable = "node.kubernetes.io/unschedulable"
	TaintNotReady      = "node.kubernetes.io/not-ready"
	TaintUnreachable   = "node.kubernetes.io/unreachable"
)

// klogger is handed to component-helpers' toleration matching, which logs only on malformed
// numeric comparisons.
var klogger = klog.Background()

func tolerates(pod *corev1.Pod, taint *corev1.Taint) bool {
	return corev1helpers.TolerationsTolerateTaint(klogger, pod.Spec.Tolerations, taint, true)
}

// NodeUnschedulable rejects cordoned nodes unless the pod tolerates the unschedulable taint.
type NodeUnschedulable struct{}

func (NodeUnschedulable) Name() string { return "NodeUnschedulable" }

func (NodeUnschedulable) Filter(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	if !n.Node.Spec.Unschedulable {
		return nil
	}
	if tolerates(pod.Pod, &corev1.Taint{Key: TaintUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
		return nil
	}
	return fw.NewStatus(fw.UnschedulableAndUnresolvable, ReasonUnschedulable)
}

// NodeReady rejects nodes whose Ready condition is not True, as if they carried the NoSchedule
// taint upstream's node lifecycle controller gives them (not-ready for False, unreachable for
// Unknown or no condition), so the message and the tolerations that let DaemonSet pods through
// are upstream's. A node that already carries the taint was judged by TaintToleration.
type NodeReady struct{}

func (NodeReady) Name() string { return "NodeReady" }

func (NodeReady) Filter(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	taint := readinessTaint(n.ReadyStatus())
	if taint == nil || tolerates(pod.Pod, taint) {
		return nil
	}
	return fw.NewStatus(fw.UnschedulableAndUnresolvable, untoleratedTaint(taint))
}

// readinessTaint is the taint a node's readiness implies, nil when Ready.
func readinessTaint(status corev1.ConditionStatus) *corev1.Taint {
	switch status {
	case corev1.ConditionTrue:
		return nil
	case corev1.ConditionFalse:
		return &corev1.Taint{Key: TaintNotReady, Effect: corev1.TaintEffectNoSchedule}
	default:
		return &corev1.Taint{Key: TaintUnreachable, Effect: corev1.TaintEffectNoSchedule}
	}
}

// NodeName rejects every node but the one the pod names.
type NodeName struct{}

func (NodeName) Name() string { return "NodeName" }

// PreFilter skips the filter for the usual pod, which names no node.
func (NodeName) PreFilter(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, _ *fw.Snapshot) *fw.Status {
	if pod.Pod.Spec.NodeName == "" {
		return fw.NewStatus(fw.Skip)
	}
	return nil
}

func (NodeName) Filter(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	if pod.Pod.Spec.NodeName == "" || pod.Pod.Spec.NodeName == n.Node.Name {
		return nil
	}
	return fw.NewStatus(fw.UnschedulableAndUnresolvable, ReasonNodeName)
}

// NodePorts rejects nodes where a requested host port is taken.
type NodePorts struct{}

func (NodePorts) Name() string { return "NodePorts" }

// PreFilter skips the filter for a pod that asks for no host port.
func (NodePorts) PreFilter(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, _ *fw.Snapshot) *fw.Status {
	if len(pod.Ports) == 0 {
		return fw.NewStatus(fw.Skip)
	}
	return nil
}

func (NodePorts) Filter(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	for _, hp := range pod.Ports {
		if n.PortConflict(hp) {
			return fw.NewStatus(fw.Unschedulable, ReasonNodePorts)
		}
	}
	return nil
}
