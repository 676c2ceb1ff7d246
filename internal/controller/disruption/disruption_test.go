package disruption

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	testclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

type recorder struct{ events []string }

func (r *recorder) Eventf(_ runtime.Object, typ, reason, format string, args ...any) {
	r.events = append(r.events, typ+" "+reason+" "+fmt.Sprintf(format, args...))
}

func int32p(i int32) *int32 { return &i }

var (
	dep = &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "dep-uid"},
		Spec: appsv1.DeploymentSpec{Replicas: int32p(4)}}
	rs = &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1", UID: "rs-uid",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "dep-uid", Controller: ptrTrue()}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: int32p(4)}}
	sts = &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db", UID: "sts-uid"},
		Spec: appsv1.StatefulSetSpec{Replicas: int32p(3)}}
)

func ptrTrue() *bool { b := true; return &b }

type podOpt func(*corev1.Pod)

func pod(name string, ready bool, opts ...podOpt) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ownedBy(kind, name string, uid types.UID) podOpt {
	return func(p *corev1.Pod) {
		apiVersion := "apps/v1"
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: ptrTrue()}}
	}
}

func deleting(p *corev1.Pod) { d := metav1.NewTime(t0); p.DeletionTimestamp = &d }

func budget(minAvail, maxUnavail *intstr.IntOrString, disrupted map[string]metav1.Time) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b", Generation: 3},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvail, MaxUnavailable: maxUnavail,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptedPods: disrupted}}
}

func TestSync(t *testing.T) {
	i := func(v int) *intstr.IntOrString { x := intstr.FromInt32(int32(v)); return &x }
	pct := func(s string) *intstr.IntOrString { x := intstr.FromString(s); return &x }
	byRS := ownedBy("ReplicaSet", "web-1", "rs-uid")
	cases := []struct {
		name                                 string
		pdb                                  *policyv1.PodDisruptionBudget
		pods                                 []*corev1.Pod
		wantHealthy, wantDesired, wantExpect int32
		wantAllowed                          int32
		wantReason                           string
		wantDisrupted                        []string
		wantRecheck                          time.Duration
		wantErr                              bool
	}{
		{
			name:        "minAvailable integer, no controller needed",
			pdb:         budget(i(2), nil, nil),
			pods:        []*corev1.Pod{pod("a", true), pod("b", true), pod("c", true), pod("d", false)},
			wantHealthy: 3, wantDesired: 2, wantExpect: 4, wantAllowed: 1, wantReason: policyv1.SufficientPodsReason,
		},
		{
			name:        "maxUnavailable 1 against the Deployment's 4 replicas",
			pdb:         budget(nil, i(1), nil),
			pods:        []*corev1.Pod{pod("a", true, byRS), pod("b", true, byRS), pod("c", true, byRS)},
			wantHealthy: 3, wantDesired: 3, wantExpect: 4, wantAllowed: 0, wantReason: policyv1.InsufficientPodsReason,
		},
		{
			name: "minAvailable 50% of a StatefulSet of 3 rounds up",
			pdb:  budget(pct("50%"), nil, nil),
			pods: []*corev1.Pod{pod("a", true, ownedBy("StatefulSet", "db", "sts-uid")), pod("b", true, ownedBy("StatefulSet", "db", "sts-uid")),
				pod("c", true, ownedBy("StatefulSet", "db", "sts-uid"))},
			wantHealthy: 3, wantDesired: 2, wantExpect: 3, wantAllowed: 1, wantReason: policyv1.SufficientPodsReason,
		},
		{
			name:        "maxUnavailable 25% of 4",
			pdb:         budget(nil, pct("25%"), nil),
			pods:        []*corev1.Pod{pod("a", true, byRS), pod("b", true, byRS), pod("c", true, byRS), pod("d", true, byRS)},
			wantHealthy: 4, wantDesired: 3, wantExpect: 4, wantAllowed: 1, wantReason: policyv1.SufficientPodsReason,
		},
		{
			name: "evicted and deleting pods are not healthy; stale entries dropped",
			pdb: budget(i(1), nil, map[string]metav1.Time{
				"a": metav1.NewTime(t0.Add(-time.Minute)), "b": metav1.NewTime(t0.Add(-time.Minute)),
				"c": metav1.NewTime(t0.Add(-3 * time.Minute)), "gone": metav1.NewTime(t0)}),
			pods:        []*corev1.Pod{pod("a", true), pod("b", true, deleting), pod("c", true), pod("d", true)},
			wantHealthy: 2, wantDesired: 1, wantExpect: 4, wantAllowed: 1, wantReason: policyv1.SufficientPodsReason,
			wantDisrupted: []string{"a"}, wantRecheck: time.Minute,
		},
		{
			name:    "controller missing: no disruption allowed",
			pdb:     budget(nil, i(1), nil),
			pods:    []*corev1.Pod{pod("a", true, ownedBy("ReplicaSet", "nope", "x"))},
			wantErr: true, wantReason: policyv1.SyncFailedReason,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.pdb}
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			cs := fake.NewClientset(objs...)
			f := informers.NewSharedInformerFactory(cs, 0)
			rec := &recorder{}
			c, err := New(Config{Client: cs, Informers: f, Recorder: rec, Clock: testclock.NewFakeClock(t0),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			f.Policy().V1().PodDisruptionBudgets().Informer().GetIndexer().Add(tc.pdb)
			for _, p := range tc.pods {
				f.Core().V1().Pods().Informer().GetIndexer().Add(p)
			}
			f.Apps().V1().Deployments().Informer().GetIndexer().Add(dep)
			f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs)
			f.Apps().V1().StatefulSets().Informer().GetIndexer().Add(sts)
			recheck, err := c.sync(context.Background(), "ns/b")
			if (err != nil) != tc.wantErr {
				t.Fatalf("sync: %v, want error %v", err, tc.wantErr)
			}
			got, err := cs.PolicyV1().PodDisruptionBudgets("ns").Get(context.Background(), "b", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := got.Status
			cond := meta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
			if cond == nil || cond.Reason != tc.wantReason || st.ObservedGeneration != 3 {
				t.Fatalf("condition %+v observedGeneration %d, want reason %s", cond, st.ObservedGeneration, tc.wantReason)
			}
			if tc.wantErr {
				if st.DisruptionsAllowed != 0 {
					t.Errorf("allowed %d on failure", st.DisruptionsAllowed)
				}
				return
			}
			if st.CurrentHealthy != tc.wantHealthy || st.DesiredHealthy != tc.wantDesired || st.ExpectedPods != tc.wantExpect || st.DisruptionsAllowed != tc.wantAllowed {
				t.Errorf("status healthy %d desired %d expected %d allowed %d, want %d %d %d %d", st.CurrentHealthy, st.DesiredHealthy,
					st.ExpectedPods, st.DisruptionsAllowed, tc.wantHealthy, tc.wantDesired, tc.wantExpect, tc.wantAllowed)
			}
			if (cond.Status == metav1.ConditionTrue) != (tc.wantAllowed > 0) {
				t.Errorf("condition status %s with %d allowed", cond.Status, tc.wantAllowed)
			}
			if len(st.DisruptedPods) != len(tc.wantDisrupted) {
				t.Errorf("disruptedPods %v, want %v", st.DisruptedPods, tc.wantDisrupted)
			}
			for _, n := range tc.wantDisrupted {
				if _, ok := st.DisruptedPods[n]; !ok {
					t.Errorf("disruptedPods %v lacks %s", st.DisruptedPods, n)
				}
			}
			if recheck != tc.wantRecheck {
				t.Errorf("recheck %s, want %s", recheck, tc.wantRecheck)
			}
		})
	}
}
