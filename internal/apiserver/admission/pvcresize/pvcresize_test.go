package pvcresize

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/admissiontest"

	storagev1 "k8s.io/api/storage/v1"
)

func TestValidate(t *testing.T) {
	yes, no := true, false
	lookup := admissiontest.New(
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "grows"}, Provisioner: "p", AllowVolumeExpansion: &yes},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fixed"}, Provisioner: "p", AllowVolumeExpansion: &no},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "unset"}, Provisioner: "p"},
	)
	claim := func(class *string, size string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns"},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: class,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: phase},
		}
	}
	s := func(v string) *string { return &v }
	const refused = "only dynamically provisioned pvc can be resized"
	cases := []struct {
		name     string
		old, new *corev1.PersistentVolumeClaim
		want     string
	}{
		{"grow allowed", claim(s("grows"), "1Gi", corev1.ClaimBound), claim(s("grows"), "2Gi", corev1.ClaimBound), ""},
		{"grow refused", claim(s("fixed"), "1Gi", corev1.ClaimBound), claim(s("fixed"), "2Gi", corev1.ClaimBound), refused},
		{"unset refuses", claim(s("unset"), "1Gi", corev1.ClaimBound), claim(s("unset"), "2Gi", corev1.ClaimBound), refused},
		{"missing class", claim(s("gone"), "1Gi", corev1.ClaimBound), claim(s("gone"), "2Gi", corev1.ClaimBound), refused},
		{"no class", claim(nil, "1Gi", corev1.ClaimBound), claim(nil, "2Gi", corev1.ClaimBound), refused},
		{"not bound", claim(s("grows"), "1Gi", corev1.ClaimPending), claim(s("grows"), "2Gi", corev1.ClaimPending), "Only bound persistent volume claims can be expanded"},
		{"same size", claim(s("fixed"), "1Gi", corev1.ClaimBound), claim(s("fixed"), "1Gi", corev1.ClaimBound), ""},
		{"shrink is not this plugin's", claim(s("fixed"), "2Gi", corev1.ClaimBound), claim(s("fixed"), "1Gi", corev1.ClaimBound), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &admission.Attributes{Operation: admission.Update, Resource: claimsGVR, Namespace: "ns", Name: "data", Object: tc.new, OldObject: tc.old}
			err := New(lookup).Validate(context.Background(), a)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !apierrors.IsForbidden(err) {
				t.Fatalf("got %v, want Forbidden containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), `persistentvolumeclaims "data" is forbidden: `) {
				t.Fatalf("message %q does not name the claim as upstream does", err)
			}
		})
	}
}
