package podgc

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func pod(name, node string, phase corev1.PodPhase, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func created(minutes int) podOpt {
	return func(p *corev1.Pod) {
		p.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(minutes) * time.Minute))
	}
}

func deleting(p *corev1.Pod) { d := metav1.NewTime(t0); p.DeletionTimestamp = &d }

func node(name string, ready corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
}

var outOfServiceTaint = corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}

func TestGC(t *testing.T) {
	cases := []struct {
		name      string
		threshold int
		pods      []*corev1.Pod
		nodes     []*corev1.Node // in the cache and live
		liveOnly  []*corev1.Node // live but not cached yet
		advance   time.Duration  // between the first and the second pass
		wantGone  []string       // after the second pass
		wantMark  []string       // pods patched to Failed
	}{
		{
			name: "oldest terminated pods beyond the threshold", threshold: 2,
			nodes: []*corev1.Node{node("n1", corev1.ConditionTrue)},
			pods: []*corev1.Pod{
				pod("s1", "n1", corev1.PodSucceeded, created(3)), pod("f1", "n1", corev1.PodFailed, created(1)),
				pod("s2", "n1", corev1.PodSucceeded, created(2)), pod("s3", "n1", corev1.PodSucceeded, created(4)),
				pod("run", "n1", corev1.PodRunning, created(0)),
			},
			wantGone: []string{"f1", "s2"},
		},
		{
			name:  "pods of a deleted node, after the quarantine",
			nodes: []*corev1.Node{node("n1", corev1.ConditionTrue)}, advance: DefaultQuarantine,
			pods:     []*corev1.Pod{pod("orphan", "gone", corev1.PodRunning), pod("done", "gone", corev1.PodSucceeded), pod("kept", "n1", corev1.PodRunning)},
			wantGone: []string{"done", "orphan"}, wantMark: []string{"orphan"},
		},
		{
			name: "quarantine not over", advance: DefaultQuarantine - time.Second,
			pods: []*corev1.Pod{pod("orphan", "gone", corev1.PodRunning)},
		},
		{
			name: "node missing from the cache only", advance: time.Hour,
			liveOnly: []*corev1.Node{node("new", corev1.ConditionTrue)},
			pods:     []*corev1.Pod{pod("p", "new", corev1.PodRunning)},
		},
		{
			name: "terminating pods on an out-of-service NotReady node",
			nodes: []*corev1.Node{node("down", corev1.ConditionFalse, outOfServiceTaint), node("up", corev1.ConditionTrue, outOfServiceTaint),
				node("notready", corev1.ConditionUnknown)},
			pods: []*corev1.Pod{pod("a", "down", corev1.PodRunning, deleting), pod("b", "down", corev1.PodRunning),
				pod("c", "up", corev1.PodRunning, deleting), pod("d", "notready", corev1.PodRunning, deleting)},
			wantGone: []string{"a"}, wantMark: []string{"a"},
		},
		{
			name:     "terminating pods never scheduled",
			pods:     []*corev1.Pod{pod("u", "", corev1.PodPending, deleting), pod("v", "", corev1.PodPending)},
			wantGone: []string{"u"}, wantMark: []string{"u"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			for _, n := range append(append([]*corev1.Node{}, tc.nodes...), tc.liveOnly...) {
				objs = append(objs, n)
			}
			cs := fake.NewClientset(objs...)
			f := informers.NewSharedInformerFactory(cs, 0)
			clk := testclock.NewFakeClock(t0)
			threshold := tc.threshold
			if threshold == 0 {
				threshold = -1
			}
			c, err := New(Config{Client: cs, Informers: f, Clock: clk, TerminatedPodThreshold: threshold,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.pods {
				f.Core().V1().Pods().Informer().GetIndexer().Add(p)
			}
			for _, n := range tc.nodes {
				f.Core().V1().Nodes().Informer().GetIndexer().Add(n)
			}
			if err := c.gc(context.Background()); err != nil {
				t.Fatal(err)
			}
			clk.Step(tc.advance)
			if err := c.gc(context.Background()); err != nil {
				t.Fatal(err)
			}
			var gone, marked []string
			for _, a := range cs.Actions() {
				switch a := a.(type) {
				case k8stesting.DeleteAction:
					if a.GetResource().Resource == "pods" {
						gone = append(gone, a.GetName())
						if g := a.GetDeleteOptions().GracePeriodSeconds; g == nil || *g != 0 {
							t.Errorf("delete of %s with grace %v, want 0", a.GetName(), g)
						}
					}
				case k8stesting.PatchAction:
					if a.GetSubresource() == "status" {
						marked = append(marked, a.GetName())
					}
				}
			}
			// The second pass sees the same stale cache, so a pod may be handled twice.
			gone, marked = uniq(gone), uniq(marked)
			if !equal(gone, tc.wantGone) {
				t.Errorf("deleted %v, want %v", gone, tc.wantGone)
			}
			if !equal(marked, tc.wantMark) {
				t.Errorf("marked failed %v, want %v", marked, tc.wantMark)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func uniq(s []string) []string {
	sort.Strings(s)
	var out []string
	for i, v := range s {
		if i == 0 || s[i-1] != v {
			out = append(out, v)
		}
	}
	return out
}
