package persistentvolumeclaim

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func pvc(mut func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if mut != nil {
		mut(c)
	}
	Default(c)
	return c
}

func TestDefault(t *testing.T) {
	c := pvc(nil)
	if *c.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || c.Status.Phase != corev1.ClaimPending {
		t.Fatalf("defaults: %+v", c)
	}
	b := corev1.PersistentVolumeBlock
	if c := pvc(func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = &b }); *c.Spec.VolumeMode != b {
		t.Fatalf("volumeMode overridden")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		c    *corev1.PersistentVolumeClaim
		want []string
	}{
		{"valid", pvc(nil), nil},
		{"no access modes", pvc(func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = nil }), []string{"FieldValueRequired spec.accessModes"}},
		{"no storage", pvc(func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil }), []string{"FieldValueRequired spec.resources[storage]"}},
		{"zero storage", pvc(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("0")
		}),
			[]string{"FieldValueInvalid spec.resources[storage]"}},
		{"bad selector", pvc(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}
		}), []string{"FieldValueInvalid spec.selector.matchExpressions[0].operator"}},
		{"bad class", pvc(func(c *corev1.PersistentVolumeClaim) { s := "Fast_SSD"; c.Spec.StorageClassName = &s }),
			[]string{"FieldValueInvalid spec.storageClassName"}},
		{"data source without name", pvc(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim"}
		}), []string{"FieldValueRequired spec.dataSource.name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), tc.c), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := pvc(func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = "pv0"
		c.Status.Phase = corev1.ClaimBound
		c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	})
	storage := func(q string) func(*corev1.PersistentVolumeClaim) {
		return func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse(q)
		}
	}
	pending := func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = ""
		c.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
	}
	cases := []struct {
		name string
		old  func(*corev1.PersistentVolumeClaim)
		mut  func(*corev1.PersistentVolumeClaim)
		want []string
	}{
		{"grow bound", nil, storage("2Gi"), nil},
		{"grow pending", pending, storage("2Gi"), []string{"FieldValueForbidden spec"}},
		{"bind", pending, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv1" }, nil},
		{"attributes class", nil, func(c *corev1.PersistentVolumeClaim) { s := "gold"; c.Spec.VolumeAttributesClassName = &s }, nil},
		{"shrink to capacity", nil, storage("512Mi"), []string{"FieldValueForbidden spec.resources.requests.storage"}},
		{"shrink a pending growth above capacity", func(c *corev1.PersistentVolumeClaim) { storage("4Gi")(c) }, storage("2Gi"), nil},
		{"shrink a pending growth to capacity", func(c *corev1.PersistentVolumeClaim) { storage("4Gi")(c) }, storage("1Gi"),
			[]string{"FieldValueForbidden spec.resources.requests.storage"}},
		{"shrink without capacity", func(c *corev1.PersistentVolumeClaim) { c.Status.Capacity = nil }, storage("512Mi"),
			[]string{"FieldValueForbidden spec.resources.requests.storage"}},
		{"access modes", nil, func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		},
			[]string{"FieldValueForbidden spec"}},
		{"class", nil, func(c *corev1.PersistentVolumeClaim) { s := "fast"; c.Spec.StorageClassName = &s }, []string{"FieldValueForbidden spec"}},
		{"class set on an unbound claim that had none", func(c *corev1.PersistentVolumeClaim) { pending(c); c.Spec.StorageClassName = nil },
			func(c *corev1.PersistentVolumeClaim) { s := "fast"; c.Spec.StorageClassName = &s }, nil},
		{"class set on a bound claim that had none", func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = nil },
			func(c *corev1.PersistentVolumeClaim) { s := "fast"; c.Spec.StorageClassName = &s }, []string{"FieldValueForbidden spec"}},
		{"class changed on an unbound claim", func(c *corev1.PersistentVolumeClaim) { pending(c); s := "fast"; c.Spec.StorageClassName = &s },
			func(c *corev1.PersistentVolumeClaim) { s := "other"; c.Spec.StorageClassName = &s }, []string{"FieldValueForbidden spec"}},
		{"class emptied on an unbound claim that had none", func(c *corev1.PersistentVolumeClaim) { pending(c); c.Spec.StorageClassName = nil },
			func(c *corev1.PersistentVolumeClaim) { s := ""; c.Spec.StorageClassName = &s }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := old.DeepCopy()
			if tc.old != nil {
				tc.old(o)
			}
			c := o.DeepCopy()
			tc.mut(c)
			registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), c, o), tc.want...)
		})
	}
	old = pvc(nil)
	bound := old.DeepCopy()
	bound.Spec.VolumeName = "pv1"
	rebind := bound.DeepCopy()
	rebind.Spec.VolumeName = "pv2"
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), rebind, bound), "FieldValueForbidden spec")
}
