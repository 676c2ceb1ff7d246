package pod

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// Strategy returns the registry strategy of core/v1 pods.
func Strategy() registry.Strategy {
	return registry.Typed[*corev1.Pod]{
		Default:              DefaultPod,
		PrepareForCreate:     PrepareForCreate,
		Validate:             ValidatePod,
		ValidateUpdate:       ValidatePodUpdate,
		ValidateStatusUpdate: ValidatePodStatusUpdate,
		SelectableFields:     SelectableFields,
		GracePeriod:          GracePeriod,
	}.Strategy()
}

// GracePeriod is upstream's rule: the request's period, else the pod's terminationGracePeriodSeconds;
// a pod that never reached a node, or has finished, goes at once since no kubelet has to stop it.
func GracePeriod(p *corev1.Pod, requested *int64) int64 {
	if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return 0
	}
	if requested != nil {
		return *requested
	}
	if p.Spec.TerminationGracePeriodSeconds != nil {
		return *p.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// SchedulingGatedReason is the PodScheduled condition reason of a pod held back by scheduling gates.
const SchedulingGatedReason = "SchedulingGated"

// PrepareForCreate fills the status a new pod starts with: Pending, its QoS class, and a PodScheduled
// condition explaining why a gated pod is not being scheduled. It runs after the generic code cleared
// the status the client sent.
func PrepareForCreate(p *corev1.Pod) {
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: QOSClass(&p.Spec)}
	if len(p.Spec.SchedulingGates) > 0 {
		p.Status.Conditions = []corev1.PodCondition{{
			Type:    corev1.PodScheduled,
			Status:  corev1.ConditionFalse,
			Reason:  SchedulingGatedReason,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		}}
	}
}

// SelectableFields are the pod fields a field selector may use besides metadata.name and
// metadata.namespace; the kubelet (spec.nodeName) and the scheduler (spec.schedulerName) watch by them.
func SelectableFields(p *corev1.Pod) fields.Set {
	podIP := ""
	if len(p.Status.PodIPs) > 0 {
		podIP = p.Status.PodIPs[0].IP
	} else {
		podIP = p.Status.PodIP
	}
	return fields.Set{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             podIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}

// QOSClass classifies a pod by its CPU and memory requests and limits: Guaranteed when every container
// has limits equal to requests for both, BestEffort when none asks for anything, Burstable otherwise.
// Pod-level resources, when set, decide alone.
func QOSClass(s *corev1.PodSpec) corev1.PodQOSClass {
	compute := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
	type rr struct{ req, lim corev1.ResourceList }
	var all []rr
	if s.Resources != nil && (len(s.Resources.Requests) > 0 || len(s.Resources.Limits) > 0) {
		all = []rr{{s.Resources.Requests, s.Resources.Limits}}
	} else {
		for _, c := range append(append([]corev1.Container{}, s.InitContainers...), s.Containers...) {
			all = append(all, rr{c.Resources.Requests, c.Resources.Limits})
		}
	}
	anySet, guaranteed := false, true
	for _, r := range all {
		for _, name := range compute {
			req, hasReq := r.req[name]
			lim, hasLim := r.lim[name]
			if (hasReq && !req.IsZero()) || (hasLim && !lim.IsZero()) {
				anySet = true
			}
			if !hasLim || lim.IsZero() || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !anySet:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}
