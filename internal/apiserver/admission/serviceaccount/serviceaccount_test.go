package serviceaccount

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/admissiontest"
)

func TestServiceAccount(t *testing.T) {
	cases := []struct {
		name       string
		sa         string
		mirror     bool
		op         admission.Operation
		hidden     bool
		wantSA     string
		wantErr    string
		wantDenied bool
	}{
		{name: "defaulted", op: admission.Create, wantSA: "default"},
		{name: "existing account", sa: "robot", op: admission.Create, wantSA: "robot"},
		{name: "account just created", sa: "robot", hidden: true, op: admission.Create, wantSA: "robot"},
		{name: "missing account", sa: "ghost", op: admission.Create, wantDenied: true,
			wantErr: `pods "p" is forbidden: error looking up service account ns/ghost: serviceaccounts "ghost" not found`},
		{name: "missing default account allowed", sa: "default", op: admission.Create, wantSA: "default"},
		{name: "mirror pod left alone", mirror: true, op: admission.Create, wantSA: ""},
		{name: "mirror pod naming an account", sa: "robot", mirror: true, op: admission.Create, wantDenied: true,
			wantErr: `pods "p" is forbidden: a mirror pod may not reference service accounts`},
		{name: "update untouched", op: admission.Update, wantSA: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := admissiontest.New(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot", Namespace: "ns"}})
			if tc.hidden {
				l.Hide(corev1.SchemeGroupVersion.WithResource("serviceaccounts"), "ns", "robot")
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{ServiceAccountName: tc.sa}}
			if tc.mirror {
				pod.Annotations = map[string]string{MirrorPodAnnotation: "x"}
			}
			a := &admission.Attributes{Operation: tc.op, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Namespace: "ns", Name: "p", Object: pod}
			p := New(l)
			err := p.Admit(context.Background(), a)
			if err == nil {
				err = p.Validate(context.Background(), a)
			}
			if tc.wantDenied {
				if !apierrors.IsForbidden(err) || err.Error() != tc.wantErr {
					t.Fatalf("got %v, want Forbidden %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pod.Spec.ServiceAccountName != tc.wantSA {
				t.Fatalf("serviceAccountName = %q, want %q", pod.Spec.ServiceAccountName, tc.wantSA)
			}
		})
	}
}
