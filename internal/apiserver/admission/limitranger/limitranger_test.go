package limitranger

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/admissiontest"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func limitRange(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "ns"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func pod(containers ...corev1.ResourceRequirements) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	for i, r := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: []string{"a", "b", "c"}[i], Resources: r})
	}
	return p
}

func TestDefaults(t *testing.T) {
	cases := []struct {
		name       string
		lr         *corev1.LimitRange
		in         corev1.ResourceRequirements
		wantReq    corev1.ResourceList
		wantLim    corev1.ResourceList
		annotation string
	}{
		{name: "both defaults", lr: limitRange(corev1.LimitRangeItem{Type: "Container", Default: rl("cpu", "500m"), DefaultRequest: rl("cpu", "100m")}),
			wantReq: rl("cpu", "100m"), wantLim: rl("cpu", "500m"),
			annotation: "LimitRanger plugin set: cpu request for container a; cpu limit for container a"},
		{name: "request defaulted from default limit", lr: limitRange(corev1.LimitRangeItem{Type: "Container", Default: rl("memory", "1Gi")}),
			wantReq: rl("memory", "1Gi"), wantLim: rl("memory", "1Gi"),
			annotation: "LimitRanger plugin set: memory request for container a; memory limit for container a"},
		{name: "own values kept", lr: limitRange(corev1.LimitRangeItem{Type: "Container", Default: rl("cpu", "500m", "memory", "1Gi"), DefaultRequest: rl("cpu", "100m", "memory", "512Mi")}),
			in:      corev1.ResourceRequirements{Requests: rl("cpu", "200m"), Limits: rl("cpu", "300m")},
			wantReq: rl("cpu", "200m", "memory", "512Mi"), wantLim: rl("cpu", "300m", "memory", "1Gi"),
			annotation: "LimitRanger plugin set: memory request for container a; memory limit for container a"},
		{name: "pod item sets nothing", lr: limitRange(corev1.LimitRangeItem{Type: "Pod", Max: rl("cpu", "4")}),
			in: corev1.ResourceRequirements{Requests: rl("cpu", "1"), Limits: rl("cpu", "1")}, wantReq: rl("cpu", "1"), wantLim: rl("cpu", "1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pod(tc.in)
			a := &admission.Attributes{Operation: admission.Create, Resource: podsGVR, Namespace: "ns", Name: "p", Object: p}
			if err := New(admissiontest.New(tc.lr)).Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			r := p.Spec.Containers[0].Resources
			equal(t, "requests", r.Requests, tc.wantReq)
			equal(t, "limits", r.Limits, tc.wantLim)
			if got := p.Annotations[Annotation]; got != tc.annotation {
				t.Errorf("annotation %q, want %q", got, tc.annotation)
			}
		})
	}
}

func equal(t *testing.T, what string, got, want corev1.ResourceList) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
	for k, v := range want {
		if g := got[k]; g.Cmp(v) != 0 {
			t.Fatalf("%s[%s] = %s, want %s", what, k, g.String(), v.String())
		}
	}
}

func TestValidate(t *testing.T) {
	req := func(r, l corev1.ResourceList) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: r, Limits: l}
	}
	container := corev1.LimitRangeItem{Type: "Container", Min: rl("cpu", "100m"), Max: rl("cpu", "1"), MaxLimitRequestRatio: rl("cpu", "4")}
	podItem := corev1.LimitRangeItem{Type: "Pod", Max: rl("memory", "1Gi")}
	pvcItem := corev1.LimitRangeItem{Type: "PersistentVolumeClaim", Min: rl("storage", "1Gi"), Max: rl("storage", "10Gi")}
	claim := func(size string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"},
			Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", size)}}}
	}
	cases := []struct {
		name    string
		lr      *corev1.LimitRange
		op      admission.Operation
		obj     runtime.Object
		wantErr string
	}{
		{name: "within", lr: limitRange(container), obj: pod(req(rl("cpu", "200m"), rl("cpu", "500m")))},
		{name: "below min", lr: limitRange(container), obj: pod(req(rl("cpu", "50m"), rl("cpu", "100m"))),
			wantErr: `pods "p" is forbidden: minimum cpu usage per Container is 100m, but request is 50m`},
		{name: "no request for min", lr: limitRange(corev1.LimitRangeItem{Type: "Container", Min: rl("cpu", "100m")}), obj: pod(req(nil, nil)),
			wantErr: `pods "p" is forbidden: minimum cpu usage per Container is 100m.  No request is specified`},
		{name: "above max", lr: limitRange(container), obj: pod(req(rl("cpu", "400m"), rl("cpu", "2"))),
			wantErr: `pods "p" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, cpu max limit to request ratio per Container is 4, but provided ratio is 5.000000]`},
		{name: "no limit for max", lr: limitRange(corev1.LimitRangeItem{Type: "Container", Max: rl("cpu", "1")}), obj: pod(req(rl("cpu", "500m"), nil)),
			wantErr: `pods "p" is forbidden: maximum cpu usage per Container is 1.  No limit is specified`},
		{name: "ratio exceeded", lr: limitRange(corev1.LimitRangeItem{Type: "Container", MaxLimitRequestRatio: rl("cpu", "2")}), obj: pod(req(rl("cpu", "100m"), rl("cpu", "300m"))),
			wantErr: `pods "p" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000`},
		{name: "pod total above max", lr: limitRange(podItem), obj: pod(req(rl("memory", "600Mi"), rl("memory", "600Mi")), req(rl("memory", "600Mi"), rl("memory", "600Mi"))),
			wantErr: `pods "p" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 1200Mi`},
		{name: "pod total within", lr: limitRange(podItem), obj: pod(req(rl("memory", "500Mi"), rl("memory", "500Mi")), req(rl("memory", "500Mi"), rl("memory", "500Mi")))},
		{name: "pod update not checked", lr: limitRange(container), op: admission.Update, obj: pod(req(nil, nil))},
		{name: "claim within", lr: limitRange(pvcItem), obj: claim("5Gi")},
		{name: "claim too small", lr: limitRange(pvcItem), obj: claim("500Mi"),
			wantErr: `persistentvolumeclaims "c" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi`},
		{name: "claim resized too big", lr: limitRange(pvcItem), op: admission.Update, obj: claim("20Gi"),
			wantErr: `persistentvolumeclaims "c" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := tc.op
			if op == "" {
				op = admission.Create
			}
			gvr := podsGVR
			if _, ok := tc.obj.(*corev1.PersistentVolumeClaim); ok {
				gvr = pvcsGVR
			}
			a := &admission.Attributes{Operation: op, Resource: gvr, Namespace: "ns", Object: tc.obj}
			err := New(admissiontest.New(tc.lr)).Validate(context.Background(), a)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !apierrors.IsForbidden(err) || err.Error() != tc.wantErr {
				t.Fatalf("got %v\nwant %s", err, tc.wantErr)
			}
		})
	}
}

// TestFreshLimitRange covers a LimitRange the cache has not seen yet.
func TestFreshLimitRange(t *testing.T) {
	l := admissiontest.New(limitRange(corev1.LimitRangeItem{Type: "Container", Default: rl("cpu", "1")}))
	l.Hide(limitRangesGVR, "ns", "limits")
	plugin := New(l)
	if err := plugin.Admit(context.Background(), &admission.Attributes{Operation: admission.Create, Resource: limitRangesGVR, Namespace: "ns", Name: "limits"}); err != nil {
		t.Fatal(err)
	}
	p := pod(corev1.ResourceRequirements{})
	if err := plugin.Admit(context.Background(), &admission.Attributes{Operation: admission.Create, Resource: podsGVR, Namespace: "ns", Object: p}); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Spec.Containers[0].Resources.Limits["cpu"]; !ok {
		t.Fatal("default limit not applied")
	}
}
