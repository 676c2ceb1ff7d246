package defaultstorageclass

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/admissiontest"
	"github.com/skiff-dev/skiff/internal/volumematch"
)

func class(name string, def string, age time.Duration) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name,
		CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-age))}, Provisioner: "x"}
	if def != "" {
		sc.Annotations = map[string]string{volumematch.IsDefaultAnnotation: def}
	}
	return sc
}

func TestAdmit(t *testing.T) {
	str := func(s string) *string { return &s }
	cases := []struct {
		name    string
		classes []runtime.Object
		op      admission.Operation
		pvc     *corev1.PersistentVolumeClaim
		want    *string
	}{
		{"fills default", []runtime.Object{class("local-path", "true", 0), class("other", "", 0)}, admission.Create,
			&corev1.PersistentVolumeClaim{}, str("local-path")},
		{"no default", []runtime.Object{class("a", "false", 0)}, admission.Create, &corev1.PersistentVolumeClaim{}, nil},
		{"explicit empty kept", []runtime.Object{class("local-path", "true", 0)}, admission.Create,
			&corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: str("")}}, str("")},
		{"explicit class kept", []runtime.Object{class("local-path", "true", 0)}, admission.Create,
			&corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: str("fast")}}, str("fast")},
		{"beta annotation counts as a class", []runtime.Object{class("local-path", "true", 0)}, admission.Create,
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.BetaStorageClassAnnotation: "x"}}}, nil},
		{"newest default wins", []runtime.Object{class("old", "true", time.Hour), class("new", "true", 0)}, admission.Create,
			&corev1.PersistentVolumeClaim{}, str("new")},
		{"tie by name", []runtime.Object{class("b", "true", 0), class("a", "true", 0)}, admission.Create,
			&corev1.PersistentVolumeClaim{}, str("a")},
		{"update untouched", []runtime.Object{class("local-path", "true", 0)}, admission.Update, &corev1.PersistentVolumeClaim{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := New(admissiontest.New(tc.classes...))
			a := &admission.Attributes{Operation: tc.op, Resource: claimsGVR, Namespace: "ns", Name: "c", Object: tc.pvc}
			if err := p.Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			got := tc.pvc.Spec.StorageClassName
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("storageClassName = %v, want %v", deref(got), deref(tc.want))
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestBetaDefaultAnnotation(t *testing.T) {
	sc := class("b", "", 0)
	sc.Annotations = map[string]string{volumematch.BetaIsDefaultAnnotation: "true"}
	if volumematch.DefaultClass([]*storagev1.StorageClass{sc}) != sc {
		t.Fatal("beta is-default-class annotation ignored")
	}
}
