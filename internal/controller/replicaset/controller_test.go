package replicaset

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	c        *Controller
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	now      time.Time
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(objs...), recorder: record.NewFakeRecorder(1000), now: t0}
	var n atomic.Int64
	// The fake tracker does not generate names; the API server does.
	f.client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%d", p.GenerateName, n.Add(1))
		}
		return false, nil, nil
	})
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := New(Config{Client: f.client, ReplicaSets: f.factory.Apps().V1().ReplicaSets(), Pods: f.factory.Core().V1().Pods(),
		Recorder: f.recorder, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.ReplicaSet:
			f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			f.factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
	}
	return f
}

func (f *fixture) sync(key string) error {
	f.client.ClearActions()
	return f.c.sync(context.Background(), key)
}

// writes lists verb/resource[/subresource] of what the last sync sent, sorted.
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			sort.Strings(out)
			return out
		}
	}
}

func newRS(name string, n int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("rs-" + name), Generation: 1},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(n), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
	}
}

type podOpt func(*corev1.Pod)

func newPod(name string, rs *appsv1.ReplicaSet, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("pod-" + name),
		Labels: map[string]string{"app": rs.Name}, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec:   corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(since time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(since)}}
	}
}
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func node(n string) podOpt            { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func created(at time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(at) }
}
func orphan() podOpt { return func(p *corev1.Pod) { p.OwnerReferences = nil } }
func restartCount(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: n}}
	}
}

func TestSyncCreatesAndWaitsForObservation(t *testing.T) {
	rs := newRS("web", 3)
	f := newFixture(t, rs)
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	want := []string{"create pods", "create pods", "create pods", "update replicasets/status"}
	if got := f.writes(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("writes %v, want %v", got, want)
	}
	for _, a := range f.client.Actions() {
		if a.GetVerb() != "create" {
			continue
		}
		p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs.UID || !*ref.BlockOwnerDeletion || p.GenerateName != "web-" || p.Labels["app"] != "web" {
			t.Fatalf("created pod %+v lacks the controller reference, name prefix or labels", p.ObjectMeta)
		}
	}
	if ev := f.events(); len(ev) != 3 || !strings.HasPrefix(ev[0], "Normal SuccessfulCreate Created pod: web-") {
		t.Fatalf("events %v", ev)
	}
	// The creations are not in the cache yet: a second sync must not create again.
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	for _, w := range f.writes() {
		if w == "create pods" {
			t.Fatalf("second sync before observation created pods: %v", f.writes())
		}
	}
	// Once observed (or expired), it acts on the cache again.
	for range 3 {
		f.c.expectations.CreationObserved("ns/web")
	}
	if !f.c.expectations.Satisfied("ns/web") {
		t.Fatal("expectations not satisfied after observing the creations")
	}
}

func TestSyncBurstIsCapped(t *testing.T) {
	rs := newRS("big", 40)
	f := newFixture(t, rs)
	f.c.burst = 10
	if err := f.sync("ns/big"); err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, w := range f.writes() {
		if w == "create pods" {
			creates++
		}
	}
	if creates != 10 {
		t.Fatalf("created %d pods in one sync, want the burst of 10", creates)
	}
}

func TestSyncCreateFailure(t *testing.T) {
	rs := newRS("q", 5)
	f := newFixture(t, rs)
	calls := 0
	f.client.PrependReactor("create", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		calls++
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", fmt.Errorf("exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"))
	})
	if err := f.sync("ns/q"); err == nil {
		t.Fatal("sync reported no error")
	}
	if calls != 1 {
		t.Fatalf("slow start made %d create calls, want 1", calls)
	}
	if a, _ := f.c.expectations.Pending("ns/q"); a != 0 {
		t.Fatalf("%d creations still expected after the failure", a)
	}
	var st *appsv1.ReplicaSet
	for _, a := range f.client.Actions() {
		if a.GetSubresource() == "status" {
			st = a.(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
		}
	}
	if st == nil {
		t.Fatal("no status update")
	}
	c := condition(st.Status.Conditions, appsv1.ReplicaSetReplicaFailure)
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != "FailedCreate" || !strings.Contains(c.Message, "exceeded quota") {
		t.Fatalf("ReplicaFailure condition = %+v", c)
	}
	if ev := f.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning FailedCreate Error creating: ") {
		t.Fatalf("events %v", ev)
	}
}

func TestSyncDeletesByRank(t *testing.T) {
	rs := newRS("web", 2)
	pods := []runtime.Object{
		newPod("old-ready", rs, ready(t0.Add(-time.Hour)), created(t0.Add(-2*time.Hour))),
		newPod("new-ready", rs, ready(t0.Add(-time.Minute)), created(t0.Add(-time.Hour))),
		newPod("unscheduled", rs, node(""), phase(corev1.PodPending)),
		newPod("running-unready", rs),
	}
	f := newFixture(t, append(pods, rs)...)
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "delete" {
			deleted = append(deleted, a.(clienttesting.DeleteAction).GetName())
		}
	}
	sort.Strings(deleted)
	if strings.Join(deleted, ",") != "running-unready,unscheduled" {
		t.Fatalf("deleted %v, want the unscheduled and the unready pod", deleted)
	}
	if ev := f.events(); len(ev) != 2 || !strings.HasPrefix(ev[0], "Normal SuccessfulDelete Deleted pod: ") {
		t.Fatalf("events %v", ev)
	}
}

func TestDeletionOrder(t *testing.T) {
	rs := newRS("x", 1)
	tests := []struct {
		name          string
		first, second *corev1.Pod
		rankF, rankS  int
	}{
		{"unscheduled before scheduled", newPod("a", rs, node("")), newPod("b", rs), 0, 0},
		{"pending before unknown", newPod("a", rs, phase(corev1.PodPending)), newPod("b", rs, phase(corev1.PodUnknown)), 0, 0},
		{"unknown before running", newPod("a", rs, phase(corev1.PodUnknown)), newPod("b", rs), 0, 0},
		{"not ready before ready", newPod("a", rs), newPod("b", rs, ready(t0)), 0, 0},
		{"doubled up before alone", newPod("a", rs, ready(t0)), newPod("b", rs, ready(t0)), 2, 1},
		{"ready for less time first", newPod("a", rs, ready(t0)), newPod("b", rs, ready(t0.Add(-time.Hour))), 0, 0},
		{"more restarts first", newPod("a", rs, restartCount(3)), newPod("b", rs, restartCount(1)), 0, 0},
		{"newer first", newPod("a", rs, created(t0)), newPod("b", rs, created(t0.Add(-time.Hour))), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := deletionOrder{pods: []*corev1.Pod{tt.second, tt.first}, rank: []int{tt.rankS, tt.rankF}}
			sort.Sort(o)
			if o.pods[0] != tt.first {
				t.Fatalf("deleted %s first, want %s", o.pods[0].Name, tt.first.Name)
			}
		})
	}
}

func TestSyncAdoptsAndReleases(t *testing.T) {
	rs := newRS("web", 2)
	stray := newPod("stray", rs)
	stray.Labels = map[string]string{"app": "other"}
	f := newFixture(t, rs, newPod("orphan", rs, orphan()), stray)
	if err := f.sync("ns/web"); err != nil {
		t.Fatal(err)
	}
	patches := map[string]string{}
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "patch" {
			pa := a.(clienttesting.PatchAction)
			patches[pa.GetName()] = string(pa.GetPatch())
		}
	}
	if !strings.Contains(patches["orphan"], `"controller":true`) {
		t.Errorf("orphan not adopted: %v", patches)
	}
	if !strings.Contains(patches["stray"], `"$patch":"delete"`) {
		t.Errorf("stray pod not released: %v", patches)
	}
	// One adopted pod of two: one more is created.
	creates := 0
	for _, w := range f.writes() {
		if w == "create pods" {
			creates++
		}
	}
	if creates != 1 {
		t.Fatalf("created %d pods, want 1 (writes %v)", creates, f.writes())
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name                            string
		minReady                        int32
		pods                            func(rs *appsv1.ReplicaSet) []runtime.Object
		replicas, labeled, ready, avail int32
	}{
		{"ready and available", 0, func(rs *appsv1.ReplicaSet) []runtime.Object {
			return []runtime.Object{newPod("a", rs, ready(t0)), newPod("b", rs)}
		}, 2, 2, 1, 1},
		{"minReadySeconds not yet reached", 30, func(rs *appsv1.ReplicaSet) []runtime.Object {
			return []runtime.Object{newPod("a", rs, ready(t0.Add(-10*time.Second))), newPod("b", rs, ready(t0.Add(-time.Minute)))}
		}, 2, 2, 2, 1},
		{"finished and deleting pods do not count", 0, func(rs *appsv1.ReplicaSet) []runtime.Object {
			del := newPod("c", rs, ready(t0))
			del.DeletionTimestamp = &metav1.Time{Time: t0}
			return []runtime.Object{newPod("a", rs, ready(t0)), newPod("b", rs, phase(corev1.PodSucceeded)), del}
		}, 1, 1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newRS("web", 2)
			rs.Spec.MinReadySeconds = tt.minReady
			// Extra template labels make a pod with only the selector's labels not fully labelled.
			f := newFixture(t, append(tt.pods(rs), rs)...)
			f.c.expectations.ExpectCreations("ns/web", 5) // keep manageReplicas out of it
			if err := f.sync("ns/web"); err != nil {
				t.Fatal(err)
			}
			var got *appsv1.ReplicaSet
			for _, a := range f.client.Actions() {
				if a.GetSubresource() == "status" {
					got = a.(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
				}
			}
			if got == nil {
				t.Fatal("no status update")
			}
			s := got.Status
			if s.Replicas != tt.replicas || s.FullyLabeledReplicas != tt.labeled || s.ReadyReplicas != tt.ready || s.AvailableReplicas != tt.avail || s.ObservedGeneration != 1 {
				t.Fatalf("status %+v, want replicas %d labeled %d ready %d available %d observedGeneration 1", s, tt.replicas, tt.labeled, tt.ready, tt.avail)
			}
		})
	}
}

func TestSyncGoneReplicaSet(t *testing.T) {
	f := newFixture(t)
	f.c.expectations.ExpectCreations("ns/gone", 3)
	if err := f.sync("ns/gone"); err != nil {
		t.Fatal(err)
	}
	if !f.c.expectations.Satisfied("ns/gone") || len(f.writes()) != 0 {
		t.Fatalf("a deleted ReplicaSet left expectations or made writes: %v", f.writes())
	}
}

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int64
	n, err := slowStartBatch(10, 1, func() error {
		if calls.Add(1) > 3 {
			return fmt.Errorf("boom")
		}
		return nil
	})
	// Batches 1, 2 succeed; the batch of 4 fails: 7 calls, 3 successes.
	if err == nil || n != 3 || calls.Load() != 7 {
		t.Fatalf("successes %d calls %d err %v", n, calls.Load(), err)
	}
}

// TestStatusAfterScaleDown: the status a scale-down writes counts only the pods that stay. One
// that still counted the deleted ones (4 available for a set of 3) read as pods the Deployment
// controller could take away again.
func TestStatusAfterScaleDown(t *testing.T) {
	tests := []struct {
		name          string
		failDelete    bool
		replicas, avl int32
	}{
		{"deleted pods are not counted", false, 2, 2},
		{"a pod whose delete failed still is", true, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newRS("web", 2)
			f := newFixture(t, rs,
				newPod("a", rs, ready(t0.Add(-time.Hour))), newPod("b", rs, ready(t0.Add(-time.Hour))),
				newPod("c", rs, ready(t0.Add(-time.Minute))), newPod("d", rs))
			f.client.PrependReactor("delete", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
				if tt.failDelete && a.(clienttesting.DeleteAction).GetName() == "c" {
					return true, nil, apierrors.NewInternalError(fmt.Errorf("injected"))
				}
				return false, nil, nil
			})
			err := f.sync("ns/web")
			if (err != nil) != tt.failDelete {
				t.Fatalf("sync: %v", err)
			}
			var got *appsv1.ReplicaSet
			for _, a := range f.client.Actions() {
				if a.GetSubresource() == "status" {
					got = a.(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
				}
			}
			if got == nil {
				t.Fatal("no status update")
			}
			if s := got.Status; s.Replicas != tt.replicas || s.AvailableReplicas != tt.avl || s.ReadyReplicas != tt.avl || s.ObservedGeneration != 1 {
				t.Fatalf("status %+v, want replicas %d available %d observedGeneration 1", s, tt.replicas, tt.avl)
			}
		})
	}
}
