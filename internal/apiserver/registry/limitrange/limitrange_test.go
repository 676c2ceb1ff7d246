package limitrange

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func rl(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		items []corev1.LimitRangeItem
		want  []string
	}{
		{"valid", []corev1.LimitRangeItem{
			{Type: "Container", Min: rl("cpu", "100m"), Max: rl("cpu", "2"), Default: rl("cpu", "500m"), DefaultRequest: rl("cpu", "200m"), MaxLimitRequestRatio: rl("cpu", "4")},
			{Type: "Pod", Max: rl("memory", "4Gi")},
			{Type: "PersistentVolumeClaim", Min: rl("storage", "1Gi")},
		}, nil},
		{"bad type", []corev1.LimitRangeItem{{Type: "Node"}}, []string{"FieldValueNotSupported spec.limits[0].type"}},
		{"duplicate type", []corev1.LimitRangeItem{{Type: "Container"}, {Type: "Container"}}, []string{"FieldValueDuplicate spec.limits[1].type"}},
		{"pod default", []corev1.LimitRangeItem{{Type: "Pod", Default: rl("cpu", "1")}}, []string{"FieldValueForbidden spec.limits[0].default"}},
		{"min above max", []corev1.LimitRangeItem{{Type: "Container", Min: rl("memory", "2Gi"), Max: rl("memory", "1Gi")}},
			[]string{"FieldValueInvalid spec.limits[0].min[memory]"}},
		{"request above default", []corev1.LimitRangeItem{{Type: "Container", Default: rl("cpu", "1"), DefaultRequest: rl("cpu", "2")}},
			[]string{"FieldValueInvalid spec.limits[0].defaultRequest[cpu]"}},
		{"default above max", []corev1.LimitRangeItem{{Type: "Container", Default: rl("cpu", "3"), Max: rl("cpu", "2")}},
			[]string{"FieldValueInvalid spec.limits[0].default[cpu]"}},
		{"ratio below one", []corev1.LimitRangeItem{{Type: "Container", MaxLimitRequestRatio: rl("cpu", "500m")}},
			[]string{"FieldValueInvalid spec.limits[0].maxLimitRequestRatio[cpu]"}},
		{"unknown resource", []corev1.LimitRangeItem{{Type: "Container", Max: rl("gpus", "1")}}, []string{"FieldValueInvalid spec.limits[0].max[gpus]"}},
		{"pvc cpu", []corev1.LimitRangeItem{{Type: "PersistentVolumeClaim", Max: rl("storage", "1Gi", "cpu", "1")}},
			[]string{"FieldValueNotSupported spec.limits[0].max[cpu]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: tc.items}}
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), lr), tc.want...)
		})
	}
}

func TestDefault(t *testing.T) {
	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: "Container", Max: rl("cpu", "2", "memory", "1Gi"), Min: rl("cpu", "100m", "ephemeral-storage", "1Mi"), Default: rl("memory", "512Mi")},
		{Type: "Pod", Max: rl("cpu", "4")},
	}}}
	Default(lr)
	c := lr.Spec.Limits[0]
	for _, tc := range []struct {
		list corev1.ResourceList
		name corev1.ResourceName
		want string
	}{
		{c.Default, "cpu", "2"}, {c.Default, "memory", "512Mi"},
		{c.DefaultRequest, "cpu", "2"}, {c.DefaultRequest, "memory", "512Mi"}, {c.DefaultRequest, "ephemeral-storage", "1Mi"},
	} {
		q, ok := tc.list[tc.name]
		if !ok || q.String() != tc.want {
			t.Errorf("%s = %v, want %s", tc.name, q.String(), tc.want)
		}
	}
	if len(lr.Spec.Limits[1].Default) != 0 || len(lr.Spec.Limits[1].DefaultRequest) != 0 {
		t.Errorf("pod item defaulted: %+v", lr.Spec.Limits[1])
	}
}
