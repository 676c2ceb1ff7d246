package priorityclass

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func pc(name string, value int32, mut func(*schedulingv1.PriorityClass)) *schedulingv1.PriorityClass {
	p := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
	if mut != nil {
		mut(p)
	}
	Default(p)
	return p
}

func TestDefault(t *testing.T) {
	if p := pc("high", 1000, nil); *p.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Fatalf("default: %v", *p.PreemptionPolicy)
	}
	never := corev1.PreemptNever
	if p := pc("batch", 10, func(p *schedulingv1.PriorityClass) { p.PreemptionPolicy = &never }); *p.PreemptionPolicy != never {
		t.Fatalf("preemptionPolicy overridden")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		p    *schedulingv1.PriorityClass
		want []string
	}{
		{"user", pc("high", 1000000000, nil), nil},
		{"system", pc("system-node-critical", 2000001000, nil), nil},
		{"user too high", pc("high", 1000000001, nil), []string{"FieldValueForbidden value"}},
		{"unknown system name", pc("system-mine", 10, nil), []string{"FieldValueForbidden metadata.name"}},
		{"wrong system value", pc("system-cluster-critical", 10, nil), []string{"FieldValueForbidden metadata.name"}},
		{"bad policy", pc("p", 1, func(p *schedulingv1.PriorityClass) {
			x := corev1.PreemptionPolicy("Sometimes")
			p.PreemptionPolicy = &x
		}),
			[]string{"FieldValueNotSupported preemptionPolicy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), tc.p), tc.want...)
		})
	}
	old := pc("high", 1000, nil)
	upd := old.DeepCopy()
	upd.Description = "changed"
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), upd, old))
	upd.Value = 2000
	never := corev1.PreemptNever
	upd.PreemptionPolicy = &never
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), upd, old), "FieldValueForbidden value", "FieldValueInvalid preemptionPolicy")
}
