package poddisruptionbudget

import (
	"context"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	cases := []struct {
		name string
		spec policyv1.PodDisruptionBudgetSpec
		want []string
	}{
		{"min int", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(2)), Selector: sel}, nil},
		{"max percent", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromString("25%")), Selector: sel}, nil},
		{"both", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(1)), MaxUnavailable: ptr(intstr.FromInt32(1))},
			[]string{"FieldValueInvalid spec"}},
		{"negative", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(-1))}, []string{"FieldValueInvalid spec.minAvailable"}},
		{"not a percent", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromString("half"))}, []string{"FieldValueInvalid spec.maxUnavailable"}},
		{"over 100%", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromString("120%"))}, []string{"FieldValueInvalid spec.maxUnavailable"}},
		{"bad selector", policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b c"}}},
			[]string{"FieldValueInvalid spec.selector.matchLabels"}},
		{"bad policy", policyv1.PodDisruptionBudgetSpec{UnhealthyPodEvictionPolicy: ptr(policyv1.UnhealthyPodEvictionPolicyType("Never"))},
			[]string{"FieldValueNotSupported spec.unhealthyPodEvictionPolicy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), &policyv1.PodDisruptionBudget{Spec: tc.spec}), tc.want...)
		})
	}
	st := &policyv1.PodDisruptionBudget{Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: -1}}
	registrytest.ExpectErrors(t, Strategy().ValidateStatusUpdate(context.Background(), st, st), "FieldValueInvalid status.disruptionsAllowed")
}
