package apiserver

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
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

func createPod() *corev1.Pod {
	grace := int64(30)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-1", Namespace: "bench", Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "registry.local/pause:3.9",
				Resources:              corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}},
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}},
			RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: &grace, DNSPolicy: corev1.DNSClusterFirst,
			SecurityContext: &corev1.PodSecurityContext{}, SchedulerName: "default-scheduler",
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &grace}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

func createEvent() *corev1.Event {
	ts := metav1.Now()
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "p-1.18a", Namespace: "bench"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "bench", Name: "p-1", UID: "u", APIVersion: "v1"},
		Reason:         "Scheduled", Message: "Successfully assigned bench/p-1 to node-7", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "default-scheduler"}, FirstTimestamp: ts, LastTimestamp: ts, Count: 1}
}

// TestTrackCreateSameManagedFields: the create path records what the API server's own field
// manager records for an update from the empty object, also where it falls back to it.
func TestTrackCreateSameManagedFields(t *testing.T) {
	podEP := &endpoint{res: &registry.Resource{Status: true}, gvk: corev1.SchemeGroupVersion.WithKind("Pod")}
	eventEP := &endpoint{res: &registry.Resource{}, gvk: corev1.SchemeGroupVersion.WithKind("Event")}
	lastApplied := createPod()
	lastApplied.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"kind":"Pod"}`}
	cases := []struct {
		name string
		ep   *endpoint
		obj  runtime.Object
	}{
		{"pod", podEP, createPod()},
		{"event", eventEP, createEvent()},
		{"last applied (field manager)", podEP, lastApplied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.ep.trackUpdate(tc.ep.newObject(), tc.obj.DeepCopyObject(), "mgr", "")
			got := tc.ep.trackCreate(tc.obj.DeepCopyObject(), "mgr")
			wm, gm := accessor(want).GetManagedFields(), accessor(got).GetManagedFields()
			if len(wm) != 1 {
				t.Fatalf("the field manager recorded %v", fieldsOf(wm))
			}
			for i := range gm {
				if gm[i].Time == nil {
					t.Fatalf("no time on %v", fieldsOf(gm))
				}
				gm[i].Time = nil
			}
			wm[0].Time = nil
			if !apiequality.Semantic.DeepEqual(wm, gm) {
				t.Fatalf("managed fields differ:\nfield manager: %v\ncreate:        %v", fieldsOf(wm), fieldsOf(gm))
			}
		})
	}
}

// BenchmarkCreateManagedFields: the managed fields of one create, through the field manager the
// API server used before (old) and through createfields (new).
func BenchmarkCreateManagedFields(b *testing.B) {
	podEP := &endpoint{res: &registry.Resource{Status: true}, gvk: corev1.SchemeGroupVersion.WithKind("Pod")}
	eventEP := &endpoint{res: &registry.Resource{}, gvk: corev1.SchemeGroupVersion.WithKind("Event")}
	for _, tc := range []struct {
		name string
		ep   *endpoint
		obj  runtime.Object
	}{{"pod", podEP, createPod()}, {"event", eventEP, createEvent()}} {
		objs := func(n int) []runtime.Object {
			out := make([]runtime.Object, n)
			for i := range out {
				out[i] = tc.obj.DeepCopyObject()
			}
			return out
		}
		tc.ep.trackCreate(tc.obj.DeepCopyObject(), "warm")
		tc.ep.trackUpdate(tc.ep.newObject(), tc.obj.DeepCopyObject(), "warm", "")
		b.Run(tc.name+"/old", func(b *testing.B) {
			in := objs(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tc.ep.trackUpdate(tc.ep.newObject(), in[i], "m", "")
			}
		})
		b.Run(tc.name+"/new", func(b *testing.B) {
			in := objs(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tc.ep.trackCreate(in[i], "m")
			}
		})
	}
}
