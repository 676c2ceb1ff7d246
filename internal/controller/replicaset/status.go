package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// calculateStatus counts what the pods are, and records a create or delete failure as the
// ReplicaFailure condition (removed again by the next sync that manages without error).
func (c *Controller) calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	now := c.now()
	tmpl := labels.SelectorFromSet(rs.Spec.Template.Labels)
	var labeled, ready, available int32
	for _, p := range pods {
		if tmpl.Matches(labels.Set(p.Labels)) {
			labeled++
		}
		if Ready(p) {
			ready++
			if Available(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	st.Replicas, st.FullyLabeledReplicas, st.ReadyReplicas, st.AvailableReplicas = int32(len(pods)), labeled, ready, available
	failure := condition(st.Conditions, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := "FailedCreate"
		if len(pods) > int(replicas(rs)) {
			reason = "FailedDelete"
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure,
			Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error()})
	case manageErr == nil && failure != nil:
		var keep []appsv1.ReplicaSetCondition
		for _, cd := range st.Conditions {
			if cd.Type != appsv1.ReplicaSetReplicaFailure {
				keep = append(keep, cd)
			}
		}
		st.Conditions = keep
	}
	return st
}

func condition(cs []appsv1.ReplicaSetCondition, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

// updateStatus writes st unless it is what the ReplicaSet already says for its generation; on a
// conflict it retries once on a fresh read.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, st appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	st.ObservedGeneration = rs.Generation
	if apiequality.Semantic.DeepEqual(rs.Status, st) {
		return rs, nil
	}
	client := c.client.AppsV1().ReplicaSets(rs.Namespace)
	var err error
	for attempt := 0; ; attempt++ {
		rs = rs.DeepCopy()
		rs.Status = st
		var out *appsv1.ReplicaSet
		if out, err = client.UpdateStatus(ctx, rs, metav1.UpdateOptions{}); err == nil {
			return out, nil
		}
		if attempt == 1 {
			return nil, err
		}
		fresh, gerr := client.Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		st.ObservedGeneration = fresh.Generation
		rs = fresh
	}
}
