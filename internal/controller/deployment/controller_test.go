package deployment

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
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
	recorder *record.FakeRecorder
	now      time.Time
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(objs...), recorder: record.NewFakeRecorder(1000), now: t0}
	fac := informers.NewSharedInformerFactory(f.client, 0)
	c, err := New(Config{Client: f.client, Deployments: fac.Apps().V1().Deployments(), ReplicaSets: fac.Apps().V1().ReplicaSets(),
		Pods: fac.Core().V1().Pods(), Recorder: f.recorder, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			fac.Apps().V1().Deployments().Informer().GetIndexer().Add(o)
		case *appsv1.ReplicaSet:
			fac.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			fac.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
	}
	return f
}

func (f *fixture) sync(key string) {
	f.t.Helper()
	f.client.ClearActions()
	if err := f.c.sync(context.Background(), key); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// created returns the ReplicaSets the last sync created.
func (f *fixture) created() []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "replicasets" {
			out = append(out, a.(clienttesting.CreateAction).GetObject().(*appsv1.ReplicaSet))
		}
	}
	return out
}

// sizes returns name=replicas of every ReplicaSet update of the last sync.
func (f *fixture) sizes() map[string]int32 {
	out := map[string]int32{}
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "replicasets" && a.GetSubresource() == "" {
			rs := a.(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
			out[rs.Name] = *rs.Spec.Replicas
		}
	}
	return out
}

// status returns the last Deployment status written.
func (f *fixture) status() *appsv1.DeploymentStatus {
	var st *appsv1.DeploymentStatus
	for _, a := range f.client.Actions() {
		if a.GetResource().Resource == "deployments" && a.GetSubresource() == "status" {
			st = &a.(clienttesting.UpdateAction).GetObject().(*appsv1.Deployment).Status
		}
	}
	return st
}

func image(img string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = img }
}

func newDeployment(n int32, opts ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(n), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr.To(intstr.FromString("25%")), MaxUnavailable: ptr.To(intstr.FromString("25%"))}},
			RevisionHistoryLimit: ptr.To[int32](10), ProgressDeadlineSeconds: ptr.To[int32](600)},
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// rsFor is a ReplicaSet the controller would have made from d's template at some revision.
func rsFor(d *appsv1.Deployment, img string, rev int, replicas, available int32, age time.Duration) *appsv1.ReplicaSet {
	tmpl := *d.Spec.Template.DeepCopy()
	tmpl.Spec.Containers[0].Image = img
	hash := ComputeHash(&tmpl, nil)
	tmpl.Labels = withLabel(tmpl.Labels, HashLabel, hash)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + hash, Namespace: d.Namespace, UID: types.UID("rs-" + img), Labels: tmpl.Labels,
			CreationTimestamp: metav1.NewTime(t0.Add(-age)), Generation: 1,
			Annotations: map[string]string{RevisionAnnotation: itoa(rev), DesiredReplicasAnnotation: itoa(int(*d.Spec.Replicas)),
				MaxReplicasAnnotation: itoa(int(*d.Spec.Replicas + MaxSurge(d)))},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Template: tmpl,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", HashLabel: hash}}},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: available, AvailableReplicas: available, ObservedGeneration: 1},
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestNewDeploymentCreatesReplicaSet(t *testing.T) {
	d := newDeployment(3)
	f := newFixture(t, d)
	f.sync("ns/web")
	cr := f.created()
	if len(cr) != 1 {
		t.Fatalf("created %d ReplicaSets, want 1", len(cr))
	}
	rs := cr[0]
	hash := ComputeHash(&d.Spec.Template, nil)
	if rs.Name != "web-"+hash || rs.Labels[HashLabel] != hash || rs.Spec.Template.Labels[HashLabel] != hash || rs.Spec.Selector.MatchLabels[HashLabel] != hash {
		t.Fatalf("ReplicaSet %s labels %v selector %v: want name web-%s and the hash label everywhere", rs.Name, rs.Labels, rs.Spec.Selector, hash)
	}
	if *rs.Spec.Replicas != 3 {
		t.Fatalf("new ReplicaSet has %d replicas, want 3", *rs.Spec.Replicas)
	}
	want := map[string]string{RevisionAnnotation: "1", DesiredReplicasAnnotation: "3", MaxReplicasAnnotation: "4"}
	for k, v := range want {
		if rs.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID || ref.Kind != "Deployment" {
		t.Fatalf("controller reference %+v", ref)
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Normal ScalingReplicaSet Scaled up replica set "+rs.Name+" from 0 to 3" {
		t.Fatalf("events %q", ev)
	}
	var annotated bool
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "deployments" && a.GetSubresource() == "" {
			annotated = a.(clienttesting.UpdateAction).GetObject().(*appsv1.Deployment).Annotations[RevisionAnnotation] == "1"
		}
	}
	if !annotated {
		t.Error("deployment's revision annotation not set to 1")
	}
	st := f.status()
	if st == nil {
		t.Fatal("no status written")
	}
	if c := getCondition(st, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonNewRSCreated || c.Message != `Created new replica set "`+rs.Name+`"` {
		t.Fatalf("Progressing condition %+v", c)
	}
}

func TestFenceposts(t *testing.T) {
	tests := []struct {
		replicas            int32
		surge, unavail      intstr.IntOrString
		wantSurge, wantUnav int32
	}{
		{10, intstr.FromString("25%"), intstr.FromString("25%"), 3, 2},
		{3, intstr.FromString("25%"), intstr.FromString("25%"), 1, 0},
		{1, intstr.FromInt32(0), intstr.FromInt32(0), 0, 1},
		{4, intstr.FromInt32(2), intstr.FromString("50%"), 2, 2},
		{5, intstr.FromString("0%"), intstr.FromInt32(10), 0, 5},
	}
	for _, tt := range tests {
		d := newDeployment(tt.replicas, func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &tt.surge, MaxUnavailable: &tt.unavail}
		})
		if s, u := MaxSurge(d), MaxUnavailable(d); s != tt.wantSurge || u != tt.wantUnav {
			t.Errorf("replicas %d surge %s unavailable %s: got %d/%d, want %d/%d", tt.replicas, tt.surge.String(), tt.unavail.String(), s, u, tt.wantSurge, tt.wantUnav)
		}
	}
}

func TestRollingUpdateSteps(t *testing.T) {
	tests := []struct {
		name     string
		oldSize  int32
		oldAvail int32
		newSize  int32 // -1: no new ReplicaSet yet
		newAvail int32
		wantNew  int32 // size of the new ReplicaSet after the sync (-1: untouched)
		wantOld  int32 // size of the old ReplicaSet after the sync (-1: untouched)
	}{
		{"surge creates the new set at one", 3, 3, -1, 0, 1, -1},
		{"full surge, new not available: wait", 3, 3, 1, 0, -1, -1},
		{"new available: old shrinks by one", 3, 3, 1, 1, -1, 2},
		{"room after shrink: new grows", 2, 2, 1, 1, 2, -1},
		{"unhealthy old pods go even below minimum availability", 3, 1, 1, 1, -1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment(3, image("nginx:2"))
			old := rsFor(d, "nginx:1", 1, tt.oldSize, tt.oldAvail, time.Hour)
			objs := []runtime.Object{d, old}
			var newRS *appsv1.ReplicaSet
			if tt.newSize >= 0 {
				newRS = rsFor(d, "nginx:2", 2, tt.newSize, tt.newAvail, time.Minute)
				objs = append(objs, newRS)
			}
			f := newFixture(t, objs...)
			f.sync("ns/web")
			sizes := f.sizes()
			if newRS == nil {
				cr := f.created()
				if len(cr) != 1 || *cr[0].Spec.Replicas != tt.wantNew {
					t.Fatalf("created %v, want one ReplicaSet of %d", cr, tt.wantNew)
				}
				if cr[0].Annotations[RevisionAnnotation] != "2" {
					t.Fatalf("new ReplicaSet revision %q, want 2", cr[0].Annotations[RevisionAnnotation])
				}
			} else if got, ok := sizes[newRS.Name]; (tt.wantNew < 0 && ok) || (tt.wantNew >= 0 && got != tt.wantNew) {
				t.Fatalf("new ReplicaSet resized %v, want %d (-1: untouched)", sizes, tt.wantNew)
			}
			if got, ok := sizes[old.Name]; (tt.wantOld < 0 && ok) || (tt.wantOld >= 0 && got != tt.wantOld) {
				t.Fatalf("old ReplicaSet resized %v, want %d (-1: untouched)", sizes, tt.wantOld)
			}
		})
	}
}

func TestProportionalScaling(t *testing.T) {
	d := newDeployment(15, image("nginx:2"), func(d *appsv1.Deployment) {
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(3)), MaxUnavailable: ptr.To(intstr.FromInt32(2))}
	})
	sized := newDeployment(10, func(x *appsv1.Deployment) { x.Spec.Strategy = d.Spec.Strategy })
	old := rsFor(sized, "nginx:1", 1, 8, 8, time.Hour)
	newRS := rsFor(sized, "nginx:2", 2, 5, 0, time.Minute)
	f := newFixture(t, d, old, newRS)
	f.sync("ns/web")
	// 13 pods sized for 10+3; now 15+3 = 18 allowed: 5 more, shared 8:5 and the rest to the largest.
	sizes := f.sizes()
	if sizes[old.Name]+sizes[newRS.Name] != 18 || sizes[old.Name] != 11 || sizes[newRS.Name] != 7 {
		t.Fatalf("sizes %v, want old 11 and new 7", sizes)
	}
	ev := f.events()
	sort.Strings(ev)
	if len(ev) != 2 || !strings.Contains(ev[0], "Scaled up replica set web-") {
		t.Fatalf("events %q", ev)
	}
}

func TestRecreate(t *testing.T) {
	recreate := func(d *appsv1.Deployment) {
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	d := newDeployment(3, image("nginx:2"), recreate)
	old := rsFor(d, "nginx:1", 1, 3, 3, time.Hour)
	f := newFixture(t, d, old)
	f.sync("ns/web")
	if len(f.created()) != 0 || f.sizes()[old.Name] != 0 {
		t.Fatalf("first step: created %v sizes %v; want the old set scaled to 0 and nothing created", f.created(), f.sizes())
	}
	// Old set at zero, but a pod still runs: wait.
	old0 := rsFor(d, "nginx:1", 1, 0, 0, time.Hour)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: old0.Spec.Template.Labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: old0.Name, UID: old0.UID, Controller: ptr.To(true)}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	f = newFixture(t, d, old0, pod)
	f.sync("ns/web")
	if len(f.created()) != 0 {
		t.Fatal("new ReplicaSet created while an old pod runs")
	}
	f = newFixture(t, d, old0)
	f.sync("ns/web")
	if cr := f.created(); len(cr) != 1 || *cr[0].Spec.Replicas != 3 {
		t.Fatalf("created %v, want the new set at the full 3", cr)
	}
}

func TestRollbackRaisesRevision(t *testing.T) {
	d := newDeployment(3) // template back at nginx:1
	v1 := rsFor(d, "nginx:1", 1, 0, 0, 2*time.Hour)
	v2 := rsFor(d, "nginx:2", 2, 3, 3, time.Hour)
	f := newFixture(t, d, v1, v2)
	f.sync("ns/web")
	var got *appsv1.ReplicaSet
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "replicasets" {
			if rs := a.(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet); rs.Name == v1.Name {
				got = rs
				break
			}
		}
	}
	if got == nil || got.Annotations[RevisionAnnotation] != "3" || got.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Fatalf("rolled-back ReplicaSet %v: want revision 3 and revision-history 1", got)
	}
}

func TestCleanupKeepsHistoryLimit(t *testing.T) {
	d := newDeployment(1, image("nginx:4"), func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](1) })
	cur := rsFor(d, "nginx:4", 4, 1, 1, time.Minute)
	d.Annotations = map[string]string{RevisionAnnotation: "4"}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	objs := []runtime.Object{d, cur, rsFor(d, "nginx:1", 1, 0, 0, 4*time.Hour), rsFor(d, "nginx:2", 2, 0, 0, 3*time.Hour), rsFor(d, "nginx:3", 3, 0, 0, 2*time.Hour)}
	f := newFixture(t, objs...)
	f.sync("ns/web")
	var deleted []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "delete" {
			deleted = append(deleted, a.(clienttesting.DeleteAction).GetName())
		}
	}
	sort.Strings(deleted)
	want := []string{objs[2].(*appsv1.ReplicaSet).Name, objs[3].(*appsv1.ReplicaSet).Name}
	sort.Strings(want)
	if strings.Join(deleted, ",") != strings.Join(want, ",") {
		t.Fatalf("deleted %v, want revisions 1 and 2 (%v)", deleted, want)
	}
}

func TestProgressDeadline(t *testing.T) {
	d := newDeployment(3, image("nginx:2"))
	old := rsFor(d, "nginx:1", 1, 3, 3, time.Hour)
	newRS := rsFor(d, "nginx:2", 2, 1, 0, time.Hour)
	d.Annotations = map[string]string{RevisionAnnotation: "2"}
	stale := metav1.NewTime(t0.Add(-601 * time.Second))
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3, UnavailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: ReasonRSUpdated, LastUpdateTime: stale, LastTransitionTime: stale}}}
	f := newFixture(t, d, old, newRS)
	f.sync("ns/web")
	st := f.status()
	if st == nil {
		t.Fatal("no status written")
	}
	c := getCondition(st, appsv1.DeploymentProgressing)
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonTimedOut || c.Message != `ReplicaSet "`+newRS.Name+`" has timed out progressing.` {
		t.Fatalf("Progressing %+v", c)
	}
	if a := getCondition(st, appsv1.DeploymentAvailable); a == nil || a.Reason != ReasonMinimumAvailable {
		t.Fatalf("Available %+v", a)
	}
}

func TestCompleteAndAvailability(t *testing.T) {
	d := newDeployment(3)
	rs := rsFor(d, "nginx:1", 1, 3, 3, time.Hour)
	d.Annotations = map[string]string{RevisionAnnotation: "1"}
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: ReasonRSUpdated}}
	f := newFixture(t, d, rs)
	f.sync("ns/web")
	st := f.status()
	if st == nil || st.Replicas != 3 || st.UpdatedReplicas != 3 || st.AvailableReplicas != 3 || st.UnavailableReplicas != 0 || st.ObservedGeneration != 1 {
		t.Fatalf("status %+v", st)
	}
	if c := getCondition(st, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonNewRSAvailable || c.Message != `ReplicaSet "`+rs.Name+`" has successfully progressed.` {
		t.Fatalf("Progressing %+v", c)
	}
	// Nothing changes on a second look: no write.
	d2 := d.DeepCopy()
	d2.Status = *st
	f = newFixture(t, d2, rs)
	f.sync("ns/web")
	if f.status() != nil {
		t.Fatalf("unchanged deployment rewrote its status: %v", f.client.Actions())
	}
}

func TestPausedDoesNotRollOut(t *testing.T) {
	d := newDeployment(3, image("nginx:2"), func(d *appsv1.Deployment) { d.Spec.Paused = true })
	old := rsFor(d, "nginx:1", 1, 3, 3, time.Hour)
	f := newFixture(t, d, old)
	f.sync("ns/web")
	if len(f.created()) != 0 {
		t.Fatal("paused deployment created a ReplicaSet")
	}
	st := f.status()
	if c := getCondition(st, appsv1.DeploymentProgressing); st == nil || c == nil || c.Reason != ReasonPaused || c.Status != corev1.ConditionUnknown {
		t.Fatalf("status %+v", st)
	}
}

func TestComputeHash(t *testing.T) {
	d := newDeployment(1)
	a, b := ComputeHash(&d.Spec.Template, nil), ComputeHash(&d.Spec.Template, nil)
	c := ComputeHash(&d.Spec.Template, ptr.To[int32](1))
	d.Spec.Template.Spec.Containers[0].Image = "other"
	e := ComputeHash(&d.Spec.Template, nil)
	if a != b || a == c || a == e || a == "" {
		t.Fatalf("hashes %s %s %s %s: want stable, moved by the collision count and by the template", a, b, c, e)
	}
}

// TestStaleOldStatusNeverScalesUp is the last step of a rollout of 4 (maxSurge 1) as the
// controller sees it right after its own scale-down of the old ReplicaSet from 2 to 1: the old
// set's status still counts the 2 pods it had (the ReplicaSet controller has not yet written
// the deletion), so it reports more available pods than its spec asks for. Cleaning up
// "unhealthy" pods must not read that as -1 unhealthy pods and scale the old set back up,
// which made the ReplicaSet controller create a pod beyond replicas + maxSurge.
func TestStaleOldStatusNeverScalesUp(t *testing.T) {
	tests := []struct {
		name                       string
		oldSpec, oldPods, oldAvail int32
		newAvail                   int32
		wantOld                    int32 // -1: untouched
	}{
		{"stale status after the scale-down to 1", 1, 2, 2, 4, 0},
		{"stale status, new not yet available", 1, 2, 2, 3, 0},
		{"status current, the old pod unhealthy", 1, 1, 0, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment(4, image("nginx:2"))
			old := rsFor(d, "nginx:1", 1, tt.oldSpec, tt.oldAvail, time.Hour)
			old.Status.Replicas, old.Status.ReadyReplicas = tt.oldPods, tt.oldAvail
			newRS := rsFor(d, "nginx:2", 2, 4, tt.newAvail, time.Minute)
			f := newFixture(t, d, old, newRS)
			f.sync("ns/web")
			for _, a := range f.client.Actions() {
				if u, ok := a.(clienttesting.UpdateAction); ok && a.GetResource().Resource == "replicasets" && a.GetSubresource() == "" {
					if rs := u.GetObject().(*appsv1.ReplicaSet); rs.Name == old.Name && *rs.Spec.Replicas > tt.oldSpec {
						t.Fatalf("old ReplicaSet scaled up from %d to %d: beyond replicas + maxSurge", tt.oldSpec, *rs.Spec.Replicas)
					}
				}
			}
			sizes := f.sizes()
			if got, ok := sizes[old.Name]; (tt.wantOld < 0 && ok) || (tt.wantOld >= 0 && got != tt.wantOld) {
				t.Fatalf("old ReplicaSet resized %v, want %d (-1: untouched)", sizes, tt.wantOld)
			}
			if _, ok := sizes[newRS.Name]; ok {
				t.Fatalf("new ReplicaSet resized %v", sizes)
			}
		})
	}
}

// TestRollingScaleDownKeepsFloor checks one sync of a rolling update against the pods behind
// the statuses it reads. The ReplicaSet controller writes a status computed from the pods it
// listed before it deleted the surplus of a scale-down, with observedGeneration already at the
// new generation: until its next sync, an old set scaled from 4 to 3 reports 4 replicas and 4
// available pods, of which only 3 remain. Summing availableReplicas as they stand let the next
// scale-down take one pod too many (old 3 → 1 with 1 new pod available: 2 ready pods of 4, below
// replicas - maxUnavailable = 3), the dip the workloads e2e saw now and then.
//
// The grid covers every size and availability of an old and a new ReplicaSet within
// replicas + maxSurge, with 0 to 2 pods the old set's status still counts beyond its spec. What
// survives is modelled as the ReplicaSet controller makes it: it deletes not-ready pods first,
// so a set of spec s whose pods include a ready ones keeps min(a, s) of them (minReadySeconds 0:
// ready is available). After the sync, the pods sure to stay available must not be fewer than
// the floor, or than before when the rollout was already below it.
func TestRollingScaleDownKeepsFloor(t *testing.T) {
	for _, replicas := range []int32{4, 5, 10} {
		d := newDeployment(replicas, image("nginx:2"))
		maxTotal, floor := replicas+MaxSurge(d), replicas-MaxUnavailable(d)
		for oldSpec := int32(0); oldSpec <= maxTotal; oldSpec++ {
			for newSpec := int32(0); newSpec <= min(replicas, maxTotal-oldSpec); newSpec++ {
				for extra := int32(0); extra <= 2; extra++ {
					for oldAvail := int32(0); oldAvail <= oldSpec+extra; oldAvail++ {
						for newAvail := int32(0); newAvail <= newSpec; newAvail++ {
							name := fmt.Sprintf("replicas %d: old spec %d status %d/%d available, new spec %d available %d",
								replicas, oldSpec, oldSpec+extra, oldAvail, newSpec, newAvail)
							old := rsFor(d, "nginx:1", 1, oldSpec, oldAvail, time.Hour)
							old.Status.Replicas = oldSpec + extra
							newRS := rsFor(d, "nginx:2", 2, newSpec, newAvail, time.Minute)
							f := newFixture(t, d.DeepCopy(), old, newRS)
							// Writes echo back unstored: only what the sync sends matters here, and the
							// fake's field-managed tracker would spend a REST mapper on each.
							f.client.PrependReactor("update", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
								return true, a.(clienttesting.UpdateAction).GetObject(), nil
							})
							f.sync("ns/web")
							sizes := f.sizes()
							oldAfter, newAfter := oldSpec, newSpec
							if n, ok := sizes[old.Name]; ok {
								oldAfter = n
							}
							if n, ok := sizes[newRS.Name]; ok {
								newAfter = n
							}
							before := min(oldAvail, oldSpec) + newAvail
							after := min(oldAvail, oldAfter) + min(newAvail, newAfter)
							if after < min(before, floor) {
								t.Errorf("%s: sync resized old %d→%d, new %d→%d: %d pods stay available, fewer than min(%d before, floor %d)",
									name, oldSpec, oldAfter, newSpec, newAfter, after, before, floor)
							}
							if oldAfter > oldSpec {
								t.Errorf("%s: old ReplicaSet scaled up to %d", name, oldAfter)
							}
						}
					}
				}
			}
		}
	}
}

// TestStaleStatusOfDeletedPodsDoesNotCount is the e2e's dip as one sync: 4 replicas (25 %/25 %),
// the old set just scaled from 4 to 3 with a status that still counts the pod being deleted,
// the new set at 2 with 1 pod available. 3 old + 1 new are available: one old pod may go, not two.
func TestStaleStatusOfDeletedPodsDoesNotCount(t *testing.T) {
	d := newDeployment(4, image("nginx:2"))
	old := rsFor(d, "nginx:1", 1, 3, 4, time.Hour)
	old.Generation, old.Status.ObservedGeneration, old.Status.Replicas = 2, 2, 4
	newRS := rsFor(d, "nginx:2", 2, 2, 1, time.Minute)
	f := newFixture(t, d, old, newRS)
	f.sync("ns/web")
	if got := f.sizes(); got[old.Name] != 2 || len(got) != 1 {
		t.Fatalf("resized %v, want only the old ReplicaSet, to 2", got)
	}
}

// TestRollingUpdateWithLaggingStatusesCompletes plays whole rolling updates against a model of
// the ReplicaSet controller and the pods, in orders drawn from fixed seeds: a ReplicaSet sync
// resizes its pods (not-ready ones go first) and may write the status of the pods it listed
// before acting, counting the pods it deletes and not those it creates, until a later sync
// writes the exact one; new pods become ready at any time. The e2e's dip is one such order:
// old 4→3 with its status still at 4 available, new 1→2, a new pod ready, old 3→1. The
// available pods must never drop below replicas - maxUnavailable, and once the pods and
// statuses catch up the rollout must finish.
func TestRollingUpdateWithLaggingStatusesCompletes(t *testing.T) {
	for _, replicas := range []int32{1, 4, 10} {
		for seed := range uint64(60) {
			t.Run(fmt.Sprintf("replicas %d seed %d", replicas, seed), func(t *testing.T) {
				playRollout(t, replicas, rand.New(rand.NewPCG(seed, 1)))
			})
		}
	}
}

func playRollout(t *testing.T, replicas int32, rng *rand.Rand) {
	d := newDeployment(replicas, image("nginx:2"))
	floor := replicas - MaxUnavailable(d)
	type set struct {
		rs   *appsv1.ReplicaSet
		pods []bool // ready (and so available), per pod
	}
	old := &set{rs: rsFor(d, "nginx:1", 1, replicas, replicas, time.Hour), pods: slices.Repeat([]bool{true}, int(replicas))}
	cur := &set{rs: rsFor(d, "nginx:2", 2, 0, 0, time.Minute)}
	sets := []*set{old, cur}
	count := func(pods []bool) int32 {
		var n int32
		for _, a := range pods {
			if a {
				n++
			}
		}
		return n
	}
	var history []string
	check := func(what string) {
		t.Helper()
		n := count(old.pods) + count(cur.pods)
		history = append(history, fmt.Sprintf("%s: old %d/%d pods (status %d/%d), new %d/%d pods (status %d/%d), %d available",
			what, replicasOf(old.rs), len(old.pods), old.rs.Status.Replicas, old.rs.Status.AvailableReplicas,
			replicasOf(cur.rs), len(cur.pods), cur.rs.Status.Replicas, cur.rs.Status.AvailableReplicas, n))
		if n < floor {
			t.Fatalf("%d pods available, below replicas - maxUnavailable = %d:\n  %s", n, floor, strings.Join(history, "\n  "))
		}
	}
	dsync := func() {
		t.Helper()
		f := newFixture(t, d.DeepCopy(), old.rs.DeepCopy(), cur.rs.DeepCopy())
		f.client.PrependReactor("update", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, a.(clienttesting.UpdateAction).GetObject(), nil
		})
		f.sync("ns/web")
		for _, s := range sets {
			if n, ok := f.sizes()[s.rs.Name]; ok {
				s.rs.Spec.Replicas = ptr.To(n)
				s.rs.Generation++
			}
		}
		check("deployment sync")
	}
	rsync := func(s *set, stale bool) {
		t.Helper()
		listed := slices.Clone(s.pods)
		spec := int(replicasOf(s.rs))
		if len(s.pods) > spec {
			slices.SortFunc(s.pods, func(a, b bool) int { // not ready first
				switch {
				case a == b:
					return 0
				case a:
					return 1
				}
				return -1
			})
			s.pods = s.pods[len(s.pods)-spec:]
		}
		for len(s.pods) < spec {
			s.pods = append(s.pods, false)
		}
		if !stale {
			listed = s.pods
		}
		n := count(listed)
		s.rs.Status = appsv1.ReplicaSetStatus{Replicas: int32(len(listed)), ReadyReplicas: n, AvailableReplicas: n,
			ObservedGeneration: s.rs.Generation}
		check(fmt.Sprintf("replicaset sync of %s (stale %v)", s.rs.Spec.Template.Spec.Containers[0].Image, stale))
	}
	for range 80 {
		switch rng.IntN(4) {
		case 0:
			dsync()
		case 1:
			rsync(sets[rng.IntN(2)], true)
		case 2:
			rsync(sets[rng.IntN(2)], false)
		case 3:
			for i, r := range cur.pods {
				if !r {
					cur.pods[i] = true
					check("a new pod ready")
					break
				}
			}
		}
	}
	for range 50 {
		if replicasOf(old.rs) == 0 && len(old.pods) == 0 && replicasOf(cur.rs) == replicas && count(cur.pods) == replicas {
			return
		}
		for _, s := range sets {
			rsync(s, false)
			for i := range s.pods {
				s.pods[i] = true
			}
			rsync(s, false)
		}
		dsync()
	}
	t.Fatalf("rollout not complete:\n  %s", strings.Join(history, "\n  "))
}
