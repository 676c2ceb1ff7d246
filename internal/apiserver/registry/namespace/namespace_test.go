package namespace

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func TestDefaultAndPrepare(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{NameLabel: "forged", "x": "y"}}}
	st := Strategy()
	st.Default(ns)
	st.PrepareForCreate(context.Background(), ns)
	if ns.Labels[NameLabel] != "team-a" || ns.Labels["x"] != "y" {
		t.Fatalf("labels: %v", ns.Labels)
	}
	if len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes || ns.Status.Phase != corev1.NamespaceActive {
		t.Fatalf("spec/status: %+v %+v", ns.Spec, ns.Status)
	}
	upd := ns.DeepCopy()
	upd.Spec.Finalizers = nil
	st.PrepareForUpdate(context.Background(), upd, ns)
	if len(upd.Spec.Finalizers) != 1 {
		t.Fatalf("update dropped finalizers")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		ns   *corev1.Namespace
		want []string
	}{
		{"valid", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ok"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes", "example.com/x"}}}, nil},
		{"name not a label", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a.b"}}, []string{"FieldValueInvalid metadata.name"}},
		{"unqualified finalizer", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ok"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"custom"}}},
			[]string{"FieldValueInvalid spec.finalizers[0]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), tc.ns), tc.want...)
		})
	}
}

func TestValidateStatus(t *testing.T) {
	now := metav1.Now()
	cases := []struct {
		name  string
		del   *metav1.Time
		phase corev1.NamespacePhase
		want  []string
	}{
		{"active", nil, corev1.NamespaceActive, nil},
		{"terminating while live", nil, corev1.NamespaceTerminating, []string{"FieldValueInvalid status.phase"}},
		{"terminating", &now, corev1.NamespaceTerminating, nil},
		{"active while deleting", &now, corev1.NamespaceActive, []string{"FieldValueInvalid status.phase"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x", DeletionTimestamp: tc.del}, Status: corev1.NamespaceStatus{Phase: tc.phase}}
			registrytest.ExpectErrors(t, Strategy().ValidateStatusUpdate(context.Background(), ns, ns), tc.want...)
		})
	}
}

func TestDelete(t *testing.T) {
	st := Strategy()
	ns := &corev1.Namespace{Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	st.PrepareForDelete(ns)
	if ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase after PrepareForDelete = %q, want Terminating", ns.Status.Phase)
	}
	if !st.Held(ns) {
		t.Errorf("Held = false with spec.finalizers %v", ns.Spec.Finalizers)
	}
	ns.Spec.Finalizers = nil
	if st.Held(ns) {
		t.Errorf("Held = true without spec.finalizers")
	}
}
