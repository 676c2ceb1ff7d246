package storageclass

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func sc(mut func(*storagev1.StorageClass)) *storagev1.StorageClass {
	s := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local"}, Provisioner: "skiff.dev/local-path", Parameters: map[string]string{"dir": "/var/lib/skiff/pv"}}
	if mut != nil {
		mut(s)
	}
	Default(s)
	return s
}

func TestDefault(t *testing.T) {
	s := sc(nil)
	if *s.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || *s.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Fatalf("defaults: %+v", s)
	}
	retain, wait := corev1.PersistentVolumeReclaimRetain, storagev1.VolumeBindingWaitForFirstConsumer
	s = sc(func(s *storagev1.StorageClass) { s.ReclaimPolicy = &retain; s.VolumeBindingMode = &wait })
	if *s.ReclaimPolicy != retain || *s.VolumeBindingMode != wait {
		t.Fatalf("set values overridden")
	}
}

func TestValidate(t *testing.T) {
	recycle := corev1.PersistentVolumeReclaimRecycle
	cases := []struct {
		name string
		s    *storagev1.StorageClass
		want []string
	}{
		{"valid", sc(nil), nil},
		{"no provisioner", sc(func(s *storagev1.StorageClass) { s.Provisioner = "" }), []string{"FieldValueRequired provisioner"}},
		{"bad provisioner", sc(func(s *storagev1.StorageClass) { s.Provisioner = "not a name" }), []string{"FieldValueInvalid provisioner"}},
		{"recycle", sc(func(s *storagev1.StorageClass) { s.ReclaimPolicy = &recycle }), []string{"FieldValueNotSupported reclaimPolicy"}},
		{"huge parameters", sc(func(s *storagev1.StorageClass) { s.Parameters["x"] = strings.Repeat("a", maxParametersSize) }),
			[]string{"FieldValueTooLong parameters"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), tc.s), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := sc(nil)
	retain, wait := corev1.PersistentVolumeReclaimRetain, storagev1.VolumeBindingWaitForFirstConsumer
	cases := []struct {
		name string
		mut  func(*storagev1.StorageClass)
		want []string
	}{
		{"labels", func(s *storagev1.StorageClass) { s.Labels = map[string]string{"a": "b"} }, nil},
		{"expansion", func(s *storagev1.StorageClass) { t := true; s.AllowVolumeExpansion = &t }, nil},
		{"parameters", func(s *storagev1.StorageClass) { s.Parameters["dir"] = "/elsewhere" }, []string{"FieldValueForbidden parameters"}},
		{"provisioner", func(s *storagev1.StorageClass) { s.Provisioner = "other.dev/x" }, []string{"FieldValueForbidden provisioner"}},
		{"reclaim", func(s *storagev1.StorageClass) { s.ReclaimPolicy = &retain }, []string{"FieldValueForbidden reclaimPolicy"}},
		{"binding", func(s *storagev1.StorageClass) { s.VolumeBindingMode = &wait }, []string{"FieldValueInvalid volumeBindingMode"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := old.DeepCopy()
			tc.mut(s)
			registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), s, old), tc.want...)
		})
	}
}
