package namespace

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func partial(apiVersion, kind, ns, name string, mutate ...func(*metav1.PartialObjectMetadata)) *metav1.PartialObjectMetadata {
	p := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func terminatingNS(name string) *corev1.Namespace {
	del := metav1.NewTime(now)
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, DeletionTimestamp: &del},
		Spec:   corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
}

func newTestController(t *testing.T, ns *corev1.Namespace, content ...runtime.Object) (*Controller, *fake.Clientset, *metadatafake.FakeMetadataClient) {
	t.Helper()
	cs := fake.NewClientset(ns)
	disc := staticDiscovery{{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: []string{"list", "delete", "get"}},
		{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: []string{"list", "delete", "get"}},
		{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: []string{"get"}},
		{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: []string{"create"}},
	}}}
	sch := runtime.NewScheme()
	metav1.AddMetaToScheme(sch)
	md := metadatafake.NewSimpleMetadataClient(sch, content...)
	f := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(Config{Client: cs, Metadata: md, Informers: f, Discovery: disc, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Core().V1().Namespaces().Informer().GetIndexer().Add(ns); err != nil {
		t.Fatal(err)
	}
	return c, cs, md
}

type staticDiscovery []*metav1.APIResourceList

func (d staticDiscovery) ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error) {
	return d, nil
}

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
var cmGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func TestSync(t *testing.T) {
	grace := int64(30)
	cases := []struct {
		name         string
		content      []runtime.Object
		wantFinalize bool
		wantEstimate time.Duration
		wantLeft     map[schema.GroupVersionResource]int
		wantCond     map[corev1.NamespaceConditionType]string // type -> "Status Reason: message"
	}{
		{
			name: "content deleted, then finalized",
			content: []runtime.Object{
				partial("v1", "ConfigMap", "x", "a"), partial("v1", "Pod", "x", "p"),
				partial("v1", "ConfigMap", "other", "keep"),
			},
			wantFinalize: true,
			wantLeft:     map[schema.GroupVersionResource]int{cmGVR: 0, podsGVR: 0},
			wantCond: map[corev1.NamespaceConditionType]string{
				corev1.NamespaceContentRemaining:    "False ContentRemoved: All content successfully removed",
				corev1.NamespaceFinalizersRemaining: "False ContentHasNoFinalizers: All content-preserving finalizers finished",
			},
		},
		{
			name: "a pod in its grace period and a finalizer hold the namespace",
			content: []runtime.Object{
				partial("v1", "Pod", "x", "terminating", func(p *metav1.PartialObjectMetadata) {
					end := metav1.NewTime(now.Add(20 * time.Second))
					p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &end, &grace
				}),
				partial("v1", "ConfigMap", "x", "held", func(p *metav1.PartialObjectMetadata) {
					end := metav1.NewTime(now)
					p.DeletionTimestamp, p.Finalizers = &end, []string{"example.com/hold"}
				}),
			},
			wantEstimate: 20 * time.Second,
			wantLeft:     map[schema.GroupVersionResource]int{cmGVR: 1, podsGVR: 1},
			wantCond: map[corev1.NamespaceConditionType]string{
				corev1.NamespaceDeletionDiscoveryFailure: "False ResourcesDiscovered: All resources successfully discovered",
				corev1.NamespaceDeletionContentFailure:   "False ContentDeleted: All content successfully deleted, may be waiting on finalization",
				corev1.NamespaceContentRemaining:         "True SomeResourcesRemain: Some resources are remaining: configmaps. has 1 resource instances, pods. has 1 resource instances",
				corev1.NamespaceFinalizersRemaining:      "True SomeFinalizersRemain: Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, cs, md := newTestController(t, terminatingNS("x"), tc.content...)
			err := c.sync(context.Background(), "x")
			var rem *remainingError
			if tc.wantFinalize {
				if err != nil {
					t.Fatalf("sync: %v", err)
				}
			} else if !errors.As(err, &rem) || rem.estimate != tc.wantEstimate {
				t.Fatalf("sync = %v, want content remaining with estimate %s", err, tc.wantEstimate)
			}
			ns, err := cs.CoreV1().Namespaces().Get(context.Background(), "x", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if finalized := len(ns.Spec.Finalizers) == 0; finalized != tc.wantFinalize {
				t.Errorf("finalized = %v, want %v (finalizers %v)", finalized, tc.wantFinalize, ns.Spec.Finalizers)
			}
			for gvr, want := range tc.wantLeft {
				l, err := md.Resource(gvr).Namespace("x").List(context.Background(), metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(l.Items) != want {
					t.Errorf("%s left in x: %d, want %d", gvr.Resource, len(l.Items), want)
				}
			}
			if _, err := md.Resource(cmGVR).Namespace("other").Get(context.Background(), "keep", metav1.GetOptions{}); err != nil && len(tc.content) > 2 {
				t.Errorf("content of another namespace touched: %v", err)
			}
			got := map[corev1.NamespaceConditionType]string{}
			for _, cond := range ns.Status.Conditions {
				got[cond.Type] = string(cond.Status) + " " + cond.Reason + ": " + cond.Message
			}
			for typ, want := range tc.wantCond {
				if got[typ] != want {
					t.Errorf("condition %s = %q, want %q", typ, got[typ], want)
				}
			}
		})
	}
}

func TestSyncIgnores(t *testing.T) {
	cases := []struct {
		name string
		ns   *corev1.Namespace
	}{
		{"live namespace", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}}}},
		{"finalizer already gone", func() *corev1.Namespace { ns := terminatingNS("x"); ns.Spec.Finalizers = nil; return ns }()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, md := newTestController(t, tc.ns, partial("v1", "ConfigMap", "x", "a"))
			if err := c.sync(context.Background(), "x"); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if _, err := md.Resource(cmGVR).Namespace("x").Get(context.Background(), "a", metav1.GetOptions{}); err != nil {
				t.Errorf("content deleted: %v", err)
			}
		})
	}
	c, _, _ := newTestController(t, terminatingNS("y"))
	if err := c.sync(context.Background(), "missing"); err != nil {
		t.Errorf("sync of a missing namespace: %v", err)
	}
}

func TestMergeConditionsKeepsTransitionTimes(t *testing.T) {
	old := metav1.NewTime(now.Add(-time.Hour))
	cur := []corev1.NamespaceCondition{
		{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, LastTransitionTime: old},
		{Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionFalse, LastTransitionTime: old},
		{Type: "Custom", Status: corev1.ConditionTrue, LastTransitionTime: old},
	}
	fresh := []corev1.NamespaceCondition{
		{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionFalse},
		{Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionFalse},
	}
	out := mergeConditions(cur, fresh, metav1.NewTime(now))
	want := map[corev1.NamespaceConditionType]time.Time{
		corev1.NamespaceContentRemaining: now, corev1.NamespaceFinalizersRemaining: old.Time, "Custom": old.Time,
	}
	if len(out) != len(want) {
		t.Fatalf("conditions = %v", out)
	}
	for _, c := range out {
		if !c.LastTransitionTime.Time.Equal(want[c.Type]) {
			t.Errorf("%s transition time = %v, want %v", c.Type, c.LastTransitionTime, want[c.Type])
		}
	}
	if !conditionsEqual(out, mergeConditions(out, fresh, metav1.NewTime(now.Add(time.Minute)))) {
		t.Error("an unchanged report changes the conditions")
	}
}

func TestNewRejectsMissingClients(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New with no clients succeeded")
	}
}
