package replicaset

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// active reports whether a pod counts toward replicas: not finished and not being deleted.
func active(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// Ready reports the pod's Ready condition.
func Ready(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// Available reports whether the pod has been ready for at least minReadySeconds at now.
func Available(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// deletionOrder sorts the pods to delete first to the front: unscheduled before scheduled,
// pending before unknown before running, not ready before ready, pods doubled up on a node with
// related pods before lone ones, ready for less time before more, more restarts before fewer,
// newer before older. The cheapest pods to lose go first: those that serve nothing yet.
type deletionOrder struct {
	pods []*corev1.Pod
	// rank is the number of related pods on the same node as each pod.
	rank []int
}

func (o deletionOrder) Len() int { return len(o.pods) }
func (o deletionOrder) Swap(i, j int) {
	o.pods[i], o.pods[j] = o.pods[j], o.pods[i]
	o.rank[i], o.rank[j] = o.rank[j], o.rank[i]
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

func (o deletionOrder) Less(i, j int) bool {
	a, b := o.pods[i], o.pods[j]
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrder[a.Status.Phase], phaseOrder[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	if ra, rb := Ready(a), Ready(b); ra != rb {
		return !ra
	}
	if o.rank[i] != o.rank[j] {
		return o.rank[i] > o.rank[j]
	}
	if Ready(a) && Ready(b) {
		ta, tb := readyCondition(a).LastTransitionTime, readyCondition(b).LastTransitionTime
		if !ta.Equal(&tb) {
			return afterOrZero(ta, tb)
		}
	}
	if ca, cb := restarts(a), restarts(b); ca != cb {
		return ca > cb
	}
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if !ta.Equal(&tb) {
		return afterOrZero(ta, tb)
	}
	return a.Name < b.Name
}

// afterOrZero orders empty times first, then newer before older.
func afterOrZero(a, b metav1.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b.Time)
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		if c.RestartCount > n {
			n = c.RestartCount
		}
	}
	return n
}
