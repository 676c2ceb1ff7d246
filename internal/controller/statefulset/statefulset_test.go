package statefulset

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestOrderedReadyCreatesOneAtATime(t *testing.T) {
	e := newEnv(t, webSet())
	e.sync("web")
	if got := e.podNames(); !slices.Equal(got, []string{"web-0"}) {
		t.Fatalf("after first sync pods = %v, want [web-0]", got)
	}
	// web-0 exists but is not ready: nothing more.
	e.sync("web")
	if got := e.podNames(); !slices.Equal(got, []string{"web-0"}) {
		t.Fatalf("with web-0 pending pods = %v, want [web-0]", got)
	}
	e.ready("web-0")
	e.sync("web")
	if got := e.podNames(); !slices.Equal(got, []string{"web-0", "web-1"}) {
		t.Fatalf("after web-0 ready pods = %v", got)
	}
	e.ready("web-1")
	e.sync("web")
	e.ready("web-2")
	e.sync("web")
	if got := e.podNames(); !slices.Equal(got, []string{"web-0", "web-1", "web-2"}) {
		t.Fatalf("pods = %v", got)
	}
	st := e.set("web").Status
	if st.Replicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 {
		t.Errorf("status = %+v", st)
	}
	if st.CurrentRevision == "" || st.CurrentRevision != st.UpdateRevision || st.ObservedGeneration != 1 {
		t.Errorf("revisions in status = %q/%q gen %d", st.CurrentRevision, st.UpdateRevision, st.ObservedGeneration)
	}
	evs := e.events()
	if !slices.Contains(evs, "Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful") ||
		!slices.Contains(evs, "Normal SuccessfulCreate create Claim www-web-0 Pod web-0 in StatefulSet web success") {
		t.Errorf("events = %q", evs)
	}
}

func TestPodIdentityAndClaims(t *testing.T) {
	e := newEnv(t, webSet(func(s *appsv1.StatefulSet) {
		s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
		s.Spec.Replicas = ptr.To[int32](1)
	}))
	e.sync("web")
	p := e.pod("web-5")
	rev := e.set("web").Status.UpdateRevision
	want := map[string]string{"app": "web", PodNameLabel: "web-5", PodIndexLabel: "5", "controller-revision-hash": rev}
	for k, v := range want {
		if p.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, p.Labels[k], v)
		}
	}
	if !strings.HasPrefix(rev, "web-") {
		t.Errorf("revision name %q", rev)
	}
	if p.Spec.Hostname != "web-5" || p.Spec.Subdomain != "nginx" {
		t.Errorf("hostname/subdomain = %q/%q", p.Spec.Hostname, p.Spec.Subdomain)
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.UID != "set-uid" || ref.Kind != "StatefulSet" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("controller ref = %+v", ref)
	}
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].Name != "www" || p.Spec.Volumes[0].PersistentVolumeClaim == nil ||
		p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "www-web-5" {
		t.Errorf("volumes = %+v", p.Spec.Volumes)
	}
	pvc, err := e.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "www-web-5", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Labels["app"] != "web" || len(pvc.OwnerReferences) != 0 {
		t.Errorf("claim labels %v owners %v", pvc.Labels, pvc.OwnerReferences)
	}
	// A deleted pod comes back with the same name, and its claim is the same claim.
	e.ready("web-5")
	e.deletePod("web-5")
	e.sync("web")
	if got := e.podNames(); !slices.Equal(got, []string{"web-5"}) {
		t.Fatalf("pods after delete = %v", got)
	}
	again, _ := e.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "www-web-5", metav1.GetOptions{})
	if again.UID != pvc.UID {
		t.Errorf("claim was recreated")
	}
}

func TestParallelCreatesAll(t *testing.T) {
	e := newEnv(t, webSet(func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }))
	e.sync("web")
	if got := e.podNames(); !slices.Equal(got, []string{"web-0", "web-1", "web-2"}) {
		t.Fatalf("pods = %v", got)
	}
	// Scale to 1: both extra pods go at once.
	s := e.set("web")
	s.Spec.Replicas = ptr.To[int32](1)
	e.updateSet(s)
	e.sync("web")
	if got := e.podNames(); !slices.Equal(got, []string{"web-0"}) {
		t.Fatalf("after scale down pods = %v", got)
	}
}

func TestScaleDown(t *testing.T) {
	tests := []struct {
		name     string
		unready  string
		wantLeft []string
	}{
		{"highest first", "", []string{"web-0", "web-1"}},
		{"not while a kept pod is unhealthy", "web-0", []string{"web-0", "web-1", "web-2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, webSet())
			e.settle("web")
			if tc.unready != "" {
				e.setPhase(tc.unready, corev1.PodPending)
			}
			s := e.set("web")
			s.Spec.Replicas = ptr.To[int32](1)
			e.updateSet(s)
			e.sync("web")
			if got := e.podNames(); !slices.Equal(got, tc.wantLeft) {
				t.Fatalf("pods = %v, want %v", got, tc.wantLeft)
			}
		})
	}
}

func TestFailedPodReplaced(t *testing.T) {
	e := newEnv(t, webSet())
	e.settle("web")
	old := e.pod("web-1").UID
	e.setPhase("web-1", corev1.PodFailed)
	e.sync("web")
	if got := e.podNames(); !slices.Equal(got, []string{"web-0", "web-2"}) {
		t.Fatalf("failed pod not deleted: %v", got)
	}
	e.sync("web")
	if p := e.pod("web-1"); p.UID == old {
		t.Fatal("web-1 not recreated")
	}
}

func TestRollingUpdateWithPartition(t *testing.T) {
	e := newEnv(t, webSet(func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](4) }))
	e.settle("web")
	oldRev := e.set("web").Status.CurrentRevision
	s := e.set("web")
	s.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2)
	e.updateSet(s)

	e.sync("web")
	if got := e.podNames(); !slices.Equal(got, []string{"web-0", "web-1", "web-2"}) {
		t.Fatalf("first step should delete web-3 only: %v", got)
	}
	st := e.set("web").Status
	if st.UpdateRevision == oldRev || st.CurrentRevision != oldRev {
		t.Fatalf("revisions current=%s update=%s old=%s", st.CurrentRevision, st.UpdateRevision, oldRev)
	}
	e.sync("web") // recreate web-3 at the new revision
	if got := e.pod("web-3").Spec.Containers[0].Image; got != "nginx:2" {
		t.Fatalf("web-3 image %s", got)
	}
	// Not ready yet: web-2 waits.
	e.sync("web")
	if got := e.podNames(); len(got) != 4 {
		t.Fatalf("web-2 went before web-3 was ready: %v", got)
	}
	e.settle("web")
	images := map[string]string{}
	for _, n := range e.podNames() {
		images[n] = e.pod(n).Spec.Containers[0].Image
	}
	want := map[string]string{"web-0": "nginx:1", "web-1": "nginx:1", "web-2": "nginx:2", "web-3": "nginx:2"}
	for k, v := range want {
		if images[k] != v {
			t.Errorf("%s runs %s, want %s", k, images[k], v)
		}
	}
	st = e.set("web").Status
	if st.UpdatedReplicas != 2 || st.CurrentReplicas != 2 || st.CurrentRevision != oldRev {
		t.Errorf("status after partitioned roll = %+v", st)
	}
	// A pod below the partition that is deleted comes back at the current revision.
	e.deletePod("web-0")
	e.sync("web")
	if got := e.pod("web-0").Spec.Containers[0].Image; got != "nginx:1" {
		t.Errorf("recreated web-0 runs %s, want nginx:1", got)
	}
	// Partition 0 finishes the roll and the update becomes current.
	s = e.set("web")
	s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](0)
	e.updateSet(s)
	e.settle("web")
	st = e.set("web").Status
	if st.CurrentRevision != st.UpdateRevision || st.UpdatedReplicas != 4 || st.CurrentReplicas != 4 {
		t.Errorf("status after full roll = %+v", st)
	}
}

func TestOnDeleteLeavesPods(t *testing.T) {
	e := newEnv(t, webSet(func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	}))
	e.settle("web")
	s := e.set("web")
	s.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	e.updateSet(s)
	e.settle("web")
	for _, n := range e.podNames() {
		if img := e.pod(n).Spec.Containers[0].Image; img != "nginx:1" {
			t.Errorf("%s updated to %s under OnDelete", n, img)
		}
	}
	e.deletePod("web-1")
	e.sync("web")
	if img := e.pod("web-1").Spec.Containers[0].Image; img != "nginx:2" {
		t.Errorf("recreated web-1 runs %s", img)
	}
}

func TestMinReadySeconds(t *testing.T) {
	e := newEnv(t, webSet(func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 }))
	e.sync("web")
	e.ready("web-0")
	e.sync("web")
	if got := e.podNames(); len(got) != 1 {
		t.Fatalf("web-1 created before web-0 was available: %v", got)
	}
	if st := e.set("web").Status; st.ReadyReplicas != 1 || st.AvailableReplicas != 0 {
		t.Errorf("status %+v", st)
	}
	e.now = e.now.Add(11 * time.Second)
	e.sync("web")
	if got := e.podNames(); len(got) != 2 {
		t.Fatalf("web-1 not created once web-0 was available: %v", got)
	}
}

func TestRetentionPolicy(t *testing.T) {
	tests := []struct {
		name                string
		whenDeleted, scaled appsv1.PersistentVolumeClaimRetentionPolicyType
		wantKept, wantGone  []string // owner kinds of the kept claim (www-web-0) and the scaled-away one (www-web-2)
	}{
		{"retain", "Retain", "Retain", nil, nil},
		{"delete with set", "Delete", "Retain", []string{"StatefulSet"}, []string{"StatefulSet"}},
		{"delete on scale", "Retain", "Delete", nil, []string{"Pod"}},
		{"delete both", "Delete", "Delete", []string{"StatefulSet"}, []string{"Pod"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, webSet(func(s *appsv1.StatefulSet) {
				s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = tc.whenDeleted
				s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = tc.scaled
			}))
			e.settle("web")
			web2 := e.pod("web-2")
			s := e.set("web")
			s.Spec.Replicas = ptr.To[int32](2)
			e.updateSet(s)
			e.sync("web")
			owners := func(name string) []string {
				pvc, err := e.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var kinds []string
				for _, r := range pvc.OwnerReferences {
					kinds = append(kinds, r.Kind)
					if r.Kind == "Pod" && r.UID != web2.UID {
						t.Errorf("claim owned by pod uid %s, want %s", r.UID, web2.UID)
					}
				}
				return kinds
			}
			if got := owners("www-web-0"); !slices.Equal(got, tc.wantKept) {
				t.Errorf("www-web-0 owners %v, want %v", got, tc.wantKept)
			}
			if got := owners("www-web-2"); !slices.Equal(got, tc.wantGone) {
				t.Errorf("www-web-2 owners %v, want %v", got, tc.wantGone)
			}
		})
	}
}

func TestRevisionsAndRollback(t *testing.T) {
	e := newEnv(t, webSet(func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](1) }))
	e.settle("web")
	revs := func() map[string]int64 {
		l, _ := e.client.AppsV1().ControllerRevisions("default").List(context.Background(), metav1.ListOptions{})
		out := map[string]int64{}
		for _, r := range l.Items {
			out[r.Name] = r.Revision
			if r.Labels["app"] != "web" || metav1.GetControllerOf(&r) == nil {
				t.Errorf("revision %s labels %v owners %v", r.Name, r.Labels, r.OwnerReferences)
			}
		}
		return out
	}
	first := e.set("web").Status.UpdateRevision
	s := e.set("web")
	s.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	e.updateSet(s)
	e.settle("web")
	second := e.set("web").Status.UpdateRevision
	if got := revs(); got[first] != 1 || got[second] != 2 || len(got) != 2 {
		t.Fatalf("revisions %v", got)
	}
	s = e.set("web")
	s.Spec.Template.Spec.Containers[0].Image = "nginx:1"
	e.updateSet(s)
	e.settle("web")
	if got := revs(); got[first] != 3 || got[second] != 2 || len(got) != 2 {
		t.Fatalf("after rollback revisions %v", got)
	}
	if st := e.set("web").Status; st.CurrentRevision != first || st.UpdateRevision != first {
		t.Errorf("status revisions %s/%s, want %s", st.CurrentRevision, st.UpdateRevision, first)
	}
	// History is trimmed to the limit, keeping what is in use.
	s = e.set("web")
	s.Spec.RevisionHistoryLimit = ptr.To[int32](0)
	e.updateSet(s)
	e.sync("web")
	if got := revs(); len(got) != 1 || got[first] != 3 {
		t.Errorf("after trim revisions %v", got)
	}
}

func TestAdoptsOrphanMembersOnly(t *testing.T) {
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "default", UID: "orphan", Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	stranger := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default", UID: "stranger", Labels: map[string]string{"app": "web"}}}
	e := newEnv(t, webSet(), orphan, stranger)
	e.sync("web")
	if ref := metav1.GetControllerOf(e.pod("web-0")); ref == nil || ref.UID != "set-uid" {
		t.Errorf("web-0 not adopted: %v", ref)
	}
	if ref := metav1.GetControllerOf(e.pod("other")); ref != nil {
		t.Errorf("non-member adopted: %v", ref)
	}
}

func TestOrdinalOf(t *testing.T) {
	tests := []struct {
		in     string
		parent string
		ord    int
		ok     bool
	}{
		{"web-0", "web", 0, true},
		{"my-web-12", "my-web", 12, true},
		{"web", "", 0, false},
		{"web-x", "", 0, false},
	}
	for _, tc := range tests {
		p, o, ok := ordinalOf(tc.in)
		if p != tc.parent || o != tc.ord || ok != tc.ok {
			t.Errorf("ordinalOf(%q) = %q %d %v", tc.in, p, o, ok)
		}
	}
}
