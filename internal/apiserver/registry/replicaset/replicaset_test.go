package replicaset

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func base() *appsv1.ReplicaSet {
	labels := map[string]string{"app": "web"}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: registrytest.PodTemplate(labels)},
	}
	Strategy().Default(rs)
	return rs
}

func TestDefault(t *testing.T) {
	rs := base()
	if *rs.Spec.Replicas != 1 || rs.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("defaults missing: %+v", rs.Spec)
	}
	rs = &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0)}}
	Default(rs)
	if *rs.Spec.Replicas != 0 {
		t.Error("replicas 0 overridden")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(rs *appsv1.ReplicaSet)
		want   []string
	}{
		{"valid", func(rs *appsv1.ReplicaSet) {}, nil},
		{"no selector", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil }, []string{"FieldValueRequired spec.selector"}},
		{"expression selector mismatch", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"db"}}}}
		}, []string{"FieldValueInvalid spec.template.metadata.labels"}},
		{"bad selector operator", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Like", Values: []string{"web"}}}}
		}, []string{"FieldValueInvalid spec.selector.matchExpressions[0].operator"}},
		{"negative replicas", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](-2) }, []string{"FieldValueInvalid spec.replicas"}},
		{"restartPolicy OnFailure", func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }, []string{"FieldValueNotSupported spec.template.spec.restartPolicy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := base()
			tc.mutate(rs)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), rs), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := base()
	scaled := old.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](4)
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), scaled, old))

	moved := old.DeepCopy()
	moved.Spec.Selector.MatchLabels = map[string]string{"app": "web", "v": "2"}
	moved.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), moved, old), "FieldValueInvalid spec.selector")
}

func TestValidateStatus(t *testing.T) {
	registrytest.ExpectErrors(t, ValidateStatus(&appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 1}))
	registrytest.ExpectErrors(t, ValidateStatus(&appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 2, AvailableReplicas: 1}),
		"FieldValueInvalid status.readyReplicas")
	registrytest.ExpectErrors(t, ValidateStatus(&appsv1.ReplicaSetStatus{ObservedGeneration: -1}), "FieldValueInvalid status.observedGeneration")
}

func TestSelectableFields(t *testing.T) {
	rs := base()
	rs.Status.Replicas = 3
	if got := Strategy().SelectableFields(rs)["status.replicas"]; got != "3" {
		t.Errorf("status.replicas = %q", got)
	}
}
