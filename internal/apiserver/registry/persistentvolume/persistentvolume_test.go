package persistentvolume

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func pv(mut func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	p := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/pv1"}},
		},
	}
	if mut != nil {
		mut(p)
	}
	return p
}

func TestDefault(t *testing.T) {
	p := pv(nil)
	Default(p)
	if p.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *p.Spec.VolumeMode != corev1.PersistentVolumeFilesystem ||
		p.Status.Phase != corev1.VolumePending {
		t.Fatalf("defaults: %+v", p)
	}
	block := corev1.PersistentVolumeBlock
	p = pv(func(p *corev1.PersistentVolume) {
		p.Spec.PersistentVolumeReclaimPolicy = "Delete"
		p.Spec.VolumeMode = &block
	})
	Default(p)
	if p.Spec.PersistentVolumeReclaimPolicy != "Delete" || *p.Spec.VolumeMode != block {
		t.Fatalf("set values overridden")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		pv   *corev1.PersistentVolume
		want []string
	}{
		{"valid", pv(nil), nil},
		{"no capacity", pv(func(p *corev1.PersistentVolume) { p.Spec.Capacity = nil }), []string{"FieldValueRequired spec.capacity"}},
		{"cpu capacity", pv(func(p *corev1.PersistentVolume) { p.Spec.Capacity[corev1.ResourceCPU] = resource.MustParse("1") }),
			[]string{"FieldValueNotSupported spec.capacity"}},
		{"zero capacity", pv(func(p *corev1.PersistentVolume) { p.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("0") }),
			[]string{"FieldValueInvalid spec.capacity[storage]"}},
		{"no access modes", pv(func(p *corev1.PersistentVolume) { p.Spec.AccessModes = nil }), []string{"FieldValueRequired spec.accessModes"}},
		{"bad access mode", pv(func(p *corev1.PersistentVolume) {
			p.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadSometimes"}
		}),
			[]string{"FieldValueNotSupported spec.accessModes"}},
		{"rwop with others", pv(func(p *corev1.PersistentVolume) {
			p.Spec.AccessModes = append(p.Spec.AccessModes, corev1.ReadWriteOncePod)
		}),
			[]string{"FieldValueForbidden spec.accessModes"}},
		{"no source", pv(func(p *corev1.PersistentVolume) { p.Spec.HostPath = nil }), []string{"FieldValueRequired spec"}},
		{"two sources", pv(func(p *corev1.PersistentVolume) { p.Spec.NFS = &corev1.NFSVolumeSource{Server: "s", Path: "/x"} }),
			[]string{"FieldValueForbidden spec.nfs"}},
		{"local without affinity", pv(func(p *corev1.PersistentVolume) {
			p.Spec.HostPath = nil
			p.Spec.Local = &corev1.LocalVolumeSource{Path: "/mnt/disk"}
		}), []string{"FieldValueRequired spec.nodeAffinity"}},
		{"hostPath without path", pv(func(p *corev1.PersistentVolume) { p.Spec.HostPath.Path = "" }), []string{"FieldValueRequired spec.hostPath.path"}},
		{"bad reclaim policy", pv(func(p *corev1.PersistentVolume) { p.Spec.PersistentVolumeReclaimPolicy = "Keep" }),
			[]string{"FieldValueNotSupported spec.persistentVolumeReclaimPolicy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			Default(tc.pv)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), tc.pv), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := pv(nil)
	Default(old)
	cases := []struct {
		name string
		mut  func(*corev1.PersistentVolume)
		want []string
	}{
		{"reclaim policy may change", func(p *corev1.PersistentVolume) { p.Spec.PersistentVolumeReclaimPolicy = "Delete" }, nil},
		{"source immutable", func(p *corev1.PersistentVolume) { p.Spec.HostPath.Path = "/elsewhere" }, []string{"FieldValueForbidden spec.persistentvolumesource"}},
		{"volume mode immutable", func(p *corev1.PersistentVolume) { b := corev1.PersistentVolumeBlock; p.Spec.VolumeMode = &b },
			[]string{"FieldValueInvalid spec.volumeMode"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := old.DeepCopy()
			tc.mut(p)
			registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), p, old), tc.want...)
		})
	}
}
