package resourcequota

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/admissiontest"
)

var served = []schema.GroupVersionResource{
	corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithResource("services"),
	corev1.SchemeGroupVersion.WithResource("configmaps"), corev1.SchemeGroupVersion.WithResource("secrets"),
	corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), corev1.SchemeGroupVersion.WithResource("resourcequotas"),
	{Group: "apps", Version: "v1", Resource: "deployments"},
}

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

// quota returns a quota whose status was already measured.
func quota(name string, hard, used corev1.ResourceList, scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec:   corev1.ResourceQuotaSpec{Hard: hard, Scopes: scopes},
		Status: corev1.ResourceQuotaStatus{Hard: hard, Used: used}}
}

func pod(name, cpu, mem string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = rl("cpu", cpu, "memory", mem)
		p.Spec.Containers[0].Resources.Limits = rl("cpu", cpu, "memory", mem)
	}
	return p
}

func attrs(op admission.Operation, resource string, obj, old runtime.Object) *admission.Attributes {
	gvr := corev1.SchemeGroupVersion.WithResource(resource)
	if resource == "deployments" {
		gvr = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: resource}
	}
	o := obj
	if o == nil {
		o = old
	}
	m := o.(metav1.Object)
	return &admission.Attributes{Operation: op, Resource: gvr, Namespace: m.GetNamespace(), Name: m.GetName(), Object: obj, OldObject: old}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name     string
		stored   []runtime.Object
		attrs    *admission.Attributes
		wantErr  string
		wantUsed map[string]corev1.ResourceList // quota name -> expected status.used (subset)
	}{
		{name: "pod charged",
			stored:   []runtime.Object{quota("q", rl("pods", "2", "requests.cpu", "1"), rl("pods", "0", "requests.cpu", "0"))},
			attrs:    attrs(admission.Create, "pods", pod("p", "500m", "1Gi"), nil),
			wantUsed: map[string]corev1.ResourceList{"q": rl("pods", "1", "requests.cpu", "500m")}},
		{name: "pod count exceeded",
			stored:  []runtime.Object{quota("q", rl("pods", "1"), rl("pods", "1")), pod("old", "", "")},
			attrs:   attrs(admission.Create, "pods", pod("p", "", ""), nil),
			wantErr: `pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`},
		{name: "cpu exceeded",
			stored:  []runtime.Object{quota("compute", rl("requests.cpu", "1", "requests.memory", "4Gi"), rl("requests.cpu", "800m", "requests.memory", "1Gi")), pod("old", "800m", "1Gi")},
			attrs:   attrs(admission.Create, "pods", pod("p", "500m", "1Gi"), nil),
			wantErr: `pods "p" is forbidden: exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=800m, limited: requests.cpu=1`},
		{name: "must specify",
			stored:  []runtime.Object{quota("compute", rl("limits.cpu", "4", "requests.memory", "4Gi"), rl("limits.cpu", "0", "requests.memory", "0"))},
			attrs:   attrs(admission.Create, "pods", pod("p", "", ""), nil),
			wantErr: `pods "p" is forbidden: failed quota: compute: must specify limits.cpu for: c; requests.memory for: c`},
		{name: "drifted usage heals",
			stored:   []runtime.Object{quota("q", rl("pods", "1"), rl("pods", "1"))},
			attrs:    attrs(admission.Create, "pods", pod("p", "", ""), nil),
			wantUsed: map[string]corev1.ResourceList{"q": rl("pods", "1")}},
		{name: "duplicate not charged",
			stored:   []runtime.Object{quota("q", rl("pods", "5"), rl("pods", "1")), pod("p", "", "")},
			attrs:    attrs(admission.Create, "pods", pod("p", "", ""), nil),
			wantUsed: map[string]corev1.ResourceList{"q": rl("pods", "1")}},
		{name: "delete releases",
			stored:   []runtime.Object{quota("q", rl("pods", "5", "requests.cpu", "2"), rl("pods", "2", "requests.cpu", "1")), pod("p", "500m", "1Gi")},
			attrs:    attrs(admission.Delete, "pods", nil, pod("p", "500m", "1Gi")),
			wantUsed: map[string]corev1.ResourceList{"q": rl("pods", "1", "requests.cpu", "500m")}},
		{name: "finished pod releases compute, keeps count",
			stored: []runtime.Object{quota("q", rl("pods", "5", "count/pods", "5"), rl("pods", "1", "count/pods", "1"))},
			attrs: func() *admission.Attributes {
				done := pod("p", "", "")
				done.Status.Phase = corev1.PodSucceeded
				a := attrs(admission.Update, "pods", done, pod("p", "", ""))
				a.Subresource = "status"
				return a
			}(),
			wantUsed: map[string]corev1.ResourceList{"q": rl("pods", "0", "count/pods", "1")}},
		{name: "scoped quota ignores other pods",
			stored:   []runtime.Object{quota("be", rl("pods", "0"), rl("pods", "0"), corev1.ResourceQuotaScopeBestEffort), quota("all", rl("pods", "3"), rl("pods", "0"))},
			attrs:    attrs(admission.Create, "pods", pod("p", "100m", "1Mi"), nil),
			wantUsed: map[string]corev1.ResourceList{"be": rl("pods", "0"), "all": rl("pods", "1")}},
		{name: "scoped quota refuses best-effort pod",
			stored:  []runtime.Object{quota("be", rl("pods", "0"), rl("pods", "0"), corev1.ResourceQuotaScopeBestEffort)},
			attrs:   attrs(admission.Create, "pods", pod("p", "", ""), nil),
			wantErr: `pods "p" is forbidden: exceeded quota: be, requested: pods=1, used: pods=0, limited: pods=0`},
		{name: "terminating scope",
			stored: []runtime.Object{quota("t", rl("pods", "0"), rl("pods", "0"), corev1.ResourceQuotaScopeTerminating)},
			attrs: func() *admission.Attributes {
				p := pod("p", "", "")
				p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
				return attrs(admission.Create, "pods", p, nil)
			}(),
			wantErr: `pods "p" is forbidden: exceeded quota: t, requested: pods=1, used: pods=0, limited: pods=0`},
		{name: "priority class scope",
			stored: []runtime.Object{&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "pc", Namespace: "ns"},
				Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "0"), ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
					{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}},
				Status: corev1.ResourceQuotaStatus{Hard: rl("pods", "0"), Used: rl("pods", "0")}}},
			attrs: func() *admission.Attributes {
				p := pod("p", "", "")
				p.Spec.PriorityClassName = "high"
				return attrs(admission.Create, "pods", p, nil)
			}(),
			wantErr: `pods "p" is forbidden: exceeded quota: pc, requested: pods=1, used: pods=0, limited: pods=0`},
		{name: "configmaps counted",
			stored:  []runtime.Object{quota("q", rl("configmaps", "1", "count/configmaps", "5"), rl("configmaps", "1", "count/configmaps", "1")), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "ns"}}},
			attrs:   attrs(admission.Create, "configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}}, nil),
			wantErr: `configmaps "c" is forbidden: exceeded quota: q, requested: configmaps=1, used: configmaps=1, limited: configmaps=1`},
		{name: "count of a group resource",
			stored:   []runtime.Object{quota("q", rl("count/deployments.apps", "2"), rl("count/deployments.apps", "0"))},
			attrs:    attrs(admission.Create, "deployments", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns"}}, nil),
			wantUsed: map[string]corev1.ResourceList{"q": rl("count/deployments.apps", "1")}},
		{name: "service node ports",
			stored: []runtime.Object{quota("q", rl("services.nodeports", "1"), rl("services.nodeports", "0"))},
			attrs: attrs(admission.Create, "services", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}}, nil),
			wantErr: `services "s" is forbidden: exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1`},
		{name: "pvc storage",
			stored: []runtime.Object{quota("q", rl("requests.storage", "10Gi", "gold.storageclass.storage.k8s.io/persistentvolumeclaims", "3"), rl("requests.storage", "2Gi"))},
			attrs: attrs(admission.Create, "persistentvolumeclaims", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"},
				Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("gold"), Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "5Gi")}}}, nil),
			wantUsed: map[string]corev1.ResourceList{"q": rl("requests.storage", "7Gi", "gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := admissiontest.New(tc.stored...)
			err := New(l, served).Validate(context.Background(), tc.attrs)
			if tc.wantErr != "" {
				if !apierrors.IsForbidden(err) || err.Error() != tc.wantErr {
					t.Fatalf("got %v\nwant %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.wantUsed {
				q := l.Object(quotasGVR, "ns", name).(*corev1.ResourceQuota)
				for n, v := range want {
					if got := q.Status.Used[n]; got.Cmp(v) != 0 {
						t.Errorf("quota %s used[%s] = %s, want %s", name, n, got.String(), v.String())
					}
				}
			}
		})
	}
}

func TestConflictRetry(t *testing.T) {
	l := admissiontest.New(quota("q", rl("pods", "2"), rl("pods", "0")))
	l.Conflicts = 2
	if err := New(l, served).Validate(context.Background(), attrs(admission.Create, "pods", pod("p", "", ""), nil)); err != nil {
		t.Fatal(err)
	}
	q := l.Object(quotasGVR, "ns", "q").(*corev1.ResourceQuota)
	if got := q.Status.Used["pods"]; got.Value() != 1 {
		t.Fatalf("used pods = %s, want 1 (charged exactly once)", got.String())
	}
}

func TestDryRunRecordsNothing(t *testing.T) {
	l := admissiontest.New(quota("q", rl("pods", "2"), rl("pods", "0")))
	a := attrs(admission.Create, "pods", pod("p", "", ""), nil)
	a.DryRun = true
	if err := New(l, served).Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if l.Updates != 0 {
		t.Fatalf("%d updates on dry run", l.Updates)
	}
}

func TestRefusalRollsBack(t *testing.T) {
	// "a" has room and is charged first; "b" refuses: "a" must end where it started.
	l := admissiontest.New(quota("a", rl("pods", "5"), rl("pods", "1")), quota("b", rl("pods", "1"), rl("pods", "1")), pod("old", "", ""))
	err := New(l, served).Validate(context.Background(), attrs(admission.Create, "pods", pod("p", "", ""), nil))
	if !apierrors.IsForbidden(err) {
		t.Fatalf("got %v, want Forbidden", err)
	}
	q := l.Object(quotasGVR, "ns", "a").(*corev1.ResourceQuota)
	if got := q.Status.Used["pods"]; got.Value() != 1 {
		t.Fatalf("quota a used pods = %s, want 1", got.String())
	}
}

func TestAdmitQuotaStatus(t *testing.T) {
	l := admissiontest.New(pod("p1", "250m", "1Gi"), pod("p2", "250m", "1Gi"), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}},
		quota("other", rl("pods", "10"), rl("pods", "2")))
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "ns"},
		Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "10", "requests.cpu", "2", "limits.memory", "8Gi", "configmaps", "5", "resourcequotas", "3")}}
	if err := New(l, served).Admit(context.Background(), attrs(admission.Create, "resourcequotas", q, nil)); err != nil {
		t.Fatal(err)
	}
	want := rl("pods", "2", "requests.cpu", "500m", "limits.memory", "2Gi", "configmaps", "1", "resourcequotas", "2")
	for n, v := range want {
		if got := q.Status.Used[n]; got.Cmp(v) != 0 || got.String() != v.String() {
			t.Errorf("used[%s] = %s, want %s", n, got.String(), v.String())
		}
	}
	if len(q.Status.Hard) != 5 {
		t.Errorf("status.hard = %v", q.Status.Hard)
	}
}

// TestFreshQuota covers a quota the cache has not seen yet: it was admitted by this plugin, so
// the next write reads past the cache.
func TestFreshQuota(t *testing.T) {
	q := quota("q", rl("pods", "0"), rl("pods", "0"))
	l := admissiontest.New(q)
	l.Hide(quotasGVR, "ns", "q")
	p := New(l, served)
	if err := p.Admit(context.Background(), attrs(admission.Create, "resourcequotas", q.DeepCopy(), nil)); err != nil {
		t.Fatal(err)
	}
	err := p.Validate(context.Background(), attrs(admission.Create, "pods", pod("p", "", ""), nil))
	if !apierrors.IsForbidden(err) {
		t.Fatalf("got %v, want Forbidden by the fresh quota", err)
	}
}
