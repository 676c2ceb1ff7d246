package resourcequota

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func TestValidate(t *testing.T) {
	hard := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	cases := []struct {
		name string
		spec corev1.ResourceQuotaSpec
		want []string
	}{
		{"valid", corev1.ResourceQuotaSpec{Hard: hard("pods", "10", "requests.cpu", "2500m", "count/deployments.apps", "3",
			"gold.storageclass.storage.k8s.io/requests.storage", "10Gi", "requests.hugepages-2Mi", "1Gi")}, nil},
		{"negative", corev1.ResourceQuotaSpec{Hard: hard("memory", "-1Gi")}, []string{"FieldValueInvalid spec.hard[memory]"}},
		{"fractional count", corev1.ResourceQuotaSpec{Hard: hard("pods", "1500m")}, []string{"FieldValueInvalid spec.hard[pods]"}},
		{"unknown resource", corev1.ResourceQuotaSpec{Hard: hard("widgets", "1")}, []string{"FieldValueInvalid spec.hard[widgets]"}},
		{"bad scope", corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{"Sometimes"}}, []string{"FieldValueNotSupported spec.scopes[0]"}},
		{"conflicting scopes", corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{"BestEffort", "NotBestEffort"}}, []string{"FieldValueInvalid spec.scopes"}},
		{"scope selector", corev1.ResourceQuotaSpec{ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
			{ScopeName: "PriorityClass", Operator: "In"},
			{ScopeName: "PriorityClass", Operator: "Exists", Values: []string{"x"}},
		}}}, []string{"FieldValueRequired spec.scopeSelector.matchExpressions[0].values", "FieldValueInvalid spec.scopeSelector.matchExpressions[1].values"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), &corev1.ResourceQuota{Spec: tc.spec}), tc.want...)
		})
	}
	st := &corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{Used: hard("pods", "-1")}}
	registrytest.ExpectErrors(t, Strategy().ValidateStatusUpdate(context.Background(), st, st), "FieldValueInvalid status.used[pods]")
}
