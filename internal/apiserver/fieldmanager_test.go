package apiserver

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"

	"github.com/skiff-dev/skiff/internal/apiserver/scheme"
)

// TestTrustedTypeConverterSameManagedFields: the converter that skips the schema walk must
// record exactly what the validating one records, duplicates included.
func TestTrustedTypeConverterSameManagedFields(t *testing.T) {
	gvk := corev1.SchemeGroupVersion.WithKind("Pod")
	inner := applyconfigurations.NewTypeConverter(scheme.Scheme)
	trusted := typeConverter()
	newFM := func(tc managedfields.TypeConverter) *managedfields.FieldManager {
		fm, err := managedfields.NewDefaultFieldManager(tc, scheme.Scheme, scheme.Scheme, scheme.Scheme, gvk, gvk.GroupVersion(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return fm
	}
	pod := func(mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"a": "b"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Env: []corev1.EnvVar{{Name: "X", Value: "1"}}}}}}
		if mut != nil {
			mut(p)
		}
		return p
	}
	cases := []struct {
		name     string
		old, new runtime.Object
	}{
		{"create", &corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}}, pod(nil)},
		{"label added", pod(nil), pod(func(p *corev1.Pod) { p.Labels["c"] = "d" })},
		{"duplicate env names", pod(nil), pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "X", Value: "2"})
		})},
		{"duplicate containers", pod(nil), pod(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, p.Spec.Containers[0])
		})},
		{"node name", pod(nil), pod(func(p *corev1.Pod) { p.Spec.NodeName = "n1" })},
	}
	// Warm the trusted converter's type index, as the first write of a kind does.
	_ = newFM(trusted).UpdateNoErrors(pod(nil), pod(nil), "warm")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := newFM(inner).UpdateNoErrors(tc.old.DeepCopyObject(), tc.new.DeepCopyObject(), "mgr")
			got := newFM(trusted).UpdateNoErrors(tc.old.DeepCopyObject(), tc.new.DeepCopyObject(), "mgr")
			wm, gm := accessor(want).GetManagedFields(), accessor(got).GetManagedFields()
			for i := range wm {
				wm[i].Time = nil
			}
			for i := range gm {
				gm[i].Time = nil
			}
			if len(wm) == 0 && tc.name != "duplicate containers" {
				t.Fatalf("the validating converter recorded nothing")
			}
			if !apiequality.Semantic.DeepEqual(wm, gm) {
				t.Fatalf("managed fields differ:\nvalidating: %v\ntrusted:    %v", fieldsOf(wm), fieldsOf(gm))
			}
		})
	}
}

func fieldsOf(m []metav1.ManagedFieldsEntry) []string {
	var out []string
	for _, e := range m {
		out = append(out, e.Manager+" "+string(e.Operation)+" "+string(e.FieldsV1.Raw))
	}
	return out
}
