package nodelifecycle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
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

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Eventf(obj runtime.Object, typ, reason, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, typ+" "+reason+" "+fmt.Sprintf(format, args...))
}

type env struct {
	c   *Controller
	cs  *fake.Clientset
	f   informers.SharedInformerFactory
	clk *testclock.FakeClock
	rec *recorder
}

func newEnv(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	cs := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(cs, 0)
	clk := testclock.NewFakeClock(t0)
	rec := &recorder{}
	c, err := New(Config{Client: cs, Informers: f, Clock: clk, Recorder: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{c: c, cs: cs, f: f, clk: clk, rec: rec}
	e.resync(t)
	return e
}

// resync copies the fake API's objects into the informer stores, as a watch would.
func (e *env) resync(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	nodes, _ := e.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	pods, _ := e.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	leases, _ := e.cs.CoordinationV1().Leases("").List(ctx, metav1.ListOptions{})
	var n, p, l []any
	for i := range nodes.Items {
		n = append(n, &nodes.Items[i])
	}
	for i := range pods.Items {
		p = append(p, &pods.Items[i])
	}
	for i := range leases.Items {
		l = append(l, &leases.Items[i])
	}
	for _, r := range []struct {
		inf  interface{ Replace([]any, string) error }
		objs []any
	}{{e.f.Core().V1().Nodes().Informer().GetIndexer(), n}, {e.f.Core().V1().Pods().Informer().GetIndexer(), p},
		{e.f.Coordination().V1().Leases().Informer().GetIndexer(), l}} {
		if err := r.inf.Replace(r.objs, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) monitor(t *testing.T) {
	t.Helper()
	if err := e.c.monitor(context.Background()); err != nil {
		t.Fatalf("monitor: %v", err)
	}
	e.resync(t)
}

func (e *env) node(t *testing.T, name string) *corev1.Node {
	t.Helper()
	n, err := e.cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) renew(t *testing.T, name string) {
	t.Helper()
	l, err := e.cs.CoordinationV1().Leases(LeaseNamespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.NewMicroTime(e.clk.Now())
	l.Spec.RenewTime = &now
	if _, err := e.cs.CoordinationV1().Leases(LeaseNamespace).Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.resync(t)
}

func node(name string, ready corev1.ConditionStatus, zone string) *corev1.Node {
	hb := metav1.NewTime(t0.Add(-time.Minute))
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady", LastHeartbeatTime: hb, LastTransitionTime: hb},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: hb, LastTransitionTime: hb},
		}}}
	if zone != "" {
		n.Labels = map[string]string{corev1.LabelTopologyZone: zone}
	}
	return n
}

func lease(name string) *coordinationv1.Lease {
	rt := metav1.NewMicroTime(t0.Add(-time.Second))
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: LeaseNamespace, Name: name},
		Spec: coordinationv1.LeaseSpec{RenewTime: &rt}}
}

func readyPod(name, nodeName string, tolerations ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:   corev1.PodSpec{NodeName: nodeName, Tolerations: tolerations},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
}

func noExec(n *corev1.Node) string {
	return strings.Join(taintKeys(n.Spec.Taints, corev1.TaintEffectNoExecute), ",")
}

func TestMonitor(t *testing.T) {
	cases := []struct {
		name      string
		nodes     []*corev1.Node
		renew     []string      // leases renewed during the wait
		wait      time.Duration // between the first and the second pass
		want      map[string]string
		wantReady map[string]corev1.ConditionStatus
	}{
		{
			name:  "lease renewed within the grace period",
			nodes: []*corev1.Node{node("a", corev1.ConditionTrue, ""), node("b", corev1.ConditionTrue, "")},
			renew: []string{"a", "b"}, wait: DefaultGracePeriod + time.Second,
			want:      map[string]string{"a": "", "b": ""},
			wantReady: map[string]corev1.ConditionStatus{"a": corev1.ConditionTrue},
		},
		{
			name:  "lease older than the grace period: Unknown and unreachable",
			nodes: []*corev1.Node{node("a", corev1.ConditionTrue, ""), node("b", corev1.ConditionTrue, "")},
			renew: []string{"b"}, wait: DefaultGracePeriod + time.Second,
			want:      map[string]string{"a": corev1.TaintNodeUnreachable, "b": ""},
			wantReady: map[string]corev1.ConditionStatus{"a": corev1.ConditionUnknown, "b": corev1.ConditionTrue},
		},
		{
			name:  "grace period not over",
			nodes: []*corev1.Node{node("a", corev1.ConditionTrue, ""), node("b", corev1.ConditionTrue, "")},
			renew: []string{"b"}, wait: DefaultGracePeriod,
			want: map[string]string{"a": "", "b": ""},
		},
		{
			name:  "agent reports NotReady: not-ready taint",
			nodes: []*corev1.Node{node("a", corev1.ConditionFalse, ""), node("b", corev1.ConditionTrue, "")},
			renew: []string{"a", "b"}, wait: time.Second,
			want:      map[string]string{"a": corev1.TaintNodeNotReady, "b": ""},
			wantReady: map[string]corev1.ConditionStatus{"a": corev1.ConditionFalse},
		},
		{
			name:  "every node down: no NoExecute taint",
			nodes: []*corev1.Node{node("a", corev1.ConditionTrue, ""), node("b", corev1.ConditionTrue, "")},
			wait:  DefaultGracePeriod + time.Second,
			want:  map[string]string{"a": "", "b": ""}, wantReady: map[string]corev1.ConditionStatus{"a": corev1.ConditionUnknown},
		},
		{
			name:  "a whole zone down while another is up: tainted",
			nodes: []*corev1.Node{node("a", corev1.ConditionTrue, "z1"), node("b", corev1.ConditionTrue, "z2")},
			renew: []string{"b"}, wait: DefaultGracePeriod + time.Second,
			want: map[string]string{"a": corev1.TaintNodeUnreachable, "b": ""},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{readyPod("p", "a")}
			for _, n := range tc.nodes {
				objs = append(objs, n, lease(n.Name))
			}
			e := newEnv(t, objs...)
			e.monitor(t)
			e.clk.Step(tc.wait / 2)
			for _, n := range tc.renew {
				e.renew(t, n)
			}
			e.clk.Step(tc.wait - tc.wait/2)
			e.monitor(t)
			for name, want := range tc.want {
				if got := noExec(e.node(t, name)); got != want {
					t.Errorf("node %s NoExecute taints %q, want %q", name, got, want)
				}
			}
			for name, want := range tc.wantReady {
				n := e.node(t, name)
				rc := readyCondition(n)
				if rc.Status != want {
					t.Errorf("node %s Ready = %s, want %s", name, rc.Status, want)
				}
				if want == corev1.ConditionUnknown {
					if rc.Reason != ReasonNodeStatusUnknown || rc.Message != "Kubelet stopped posting node status." {
						t.Errorf("Ready = %+v", rc)
					}
					for _, cd := range n.Status.Conditions {
						if cd.Status != corev1.ConditionUnknown {
							t.Errorf("condition %s = %s, want Unknown", cd.Type, cd.Status)
						}
					}
					p, _ := e.cs.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
					if p.Status.Conditions[0].Status != corev1.ConditionFalse {
						t.Errorf("pod on unknown node still Ready")
					}
				}
			}
		})
	}
}

func TestNodeComesBack(t *testing.T) {
	e := newEnv(t, node("a", corev1.ConditionTrue, ""), lease("a"), node("b", corev1.ConditionTrue, ""), lease("b"))
	e.monitor(t)
	e.clk.Step(DefaultGracePeriod + time.Second)
	e.renew(t, "b")
	e.monitor(t)
	if got := noExec(e.node(t, "a")); got != corev1.TaintNodeUnreachable {
		t.Fatalf("taints %q, want unreachable", got)
	}
	if !strings.Contains(strings.Join(e.rec.events, "\n"), "Normal NodeNotReady Node a status is now: NodeNotReady") {
		t.Errorf("events %v", e.rec.events)
	}
	// The agent is back: it renews and posts Ready again.
	e.clk.Step(time.Second)
	e.renew(t, "a")
	n := e.node(t, "a")
	rc := readyCondition(n)
	rc.Status, rc.LastHeartbeatTime = corev1.ConditionTrue, metav1.NewTime(e.clk.Now())
	if _, err := e.cs.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.resync(t)
	e.monitor(t)
	if got := noExec(e.node(t, "a")); got != "" {
		t.Errorf("taints %q after the node came back", got)
	}
}

// TestEvictionRate: in a healthy zone, new NoExecute taints come one per 1/EvictionRate.
func TestEvictionRate(t *testing.T) {
	var objs []runtime.Object
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("n%d", i)
		objs = append(objs, node(name, corev1.ConditionTrue, ""), lease(name))
	}
	e := newEnv(t, objs...)
	e.monitor(t)
	e.clk.Step(DefaultGracePeriod + time.Second)
	for i := 2; i < 10; i++ {
		e.renew(t, fmt.Sprintf("n%d", i))
	}
	tainted := func() int {
		c := 0
		for _, n := range []string{"n0", "n1"} {
			if noExec(e.node(t, n)) != "" {
				c++
			}
		}
		return c
	}
	e.monitor(t)
	if got := tainted(); got != 1 {
		t.Fatalf("tainted after the first pass: %d, want 1", got)
	}
	e.clk.Step(5 * time.Second)
	for i := 2; i < 10; i++ {
		e.renew(t, fmt.Sprintf("n%d", i))
	}
	e.monitor(t)
	if got := tainted(); got != 1 {
		t.Fatalf("tainted 5s later: %d, want 1 (0.1 nodes/s)", got)
	}
	e.clk.Step(5 * time.Second)
	for i := 2; i < 10; i++ {
		e.renew(t, fmt.Sprintf("n%d", i))
	}
	e.monitor(t)
	if got := tainted(); got != 2 {
		t.Fatalf("tainted 10s later: %d, want 2", got)
	}
}

func TestComputeZoneState(t *testing.T) {
	for _, tc := range []struct {
		ready, notReady int
		want            zoneState
	}{
		{3, 0, zoneNormal}, {0, 1, zoneFull}, {1, 1, zoneNormal}, {1, 2, zoneNormal}, {2, 3, zonePartial}, {3, 3, zoneNormal}, {0, 0, zoneNormal},
	} {
		if got := computeZoneState(tc.ready, tc.notReady, DefaultUnhealthyZoneThreshold); got != tc.want {
			t.Errorf("ready %d notReady %d: %s, want %s", tc.ready, tc.notReady, got, tc.want)
		}
	}
}

func TestNoScheduleTaints(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Node)
		want   []string
	}{
		{"ready", func(*corev1.Node) {}, nil},
		{"not ready", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, []string{corev1.TaintNodeNotReady}},
		{"unknown", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }, []string{corev1.TaintNodeUnreachable}},
		{"memory pressure and cordoned", func(n *corev1.Node) {
			n.Status.Conditions[1].Status = corev1.ConditionTrue
			n.Spec.Unschedulable = true
		}, []string{corev1.TaintNodeMemoryPressure, corev1.TaintNodeUnschedulable}},
		{"stale taint removed, foreign kept", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}, {Key: "example.com/x", Effect: corev1.TaintEffectNoSchedule}}
		}, []string{"example.com/x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := node("a", corev1.ConditionTrue, "")
			tc.mutate(n)
			e := newEnv(t, n)
			if err := e.c.syncNoSchedule(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
			got := taintKeys(e.node(t, "a").Spec.Taints, corev1.TaintEffectNoSchedule)
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("NoSchedule taints %v, want %v", got, tc.want)
			}
		})
	}
}

func secs(s int64) *int64 { return &s }

func TestSyncPod(t *testing.T) {
	added := metav1.NewTime(t0)
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	tol := func(key string, s *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	cases := []struct {
		name      string
		taints    []corev1.Taint
		tols      []corev1.Toleration
		at        time.Duration // after t0
		wantAfter time.Duration
		wantEvict bool
	}{
		{name: "no toleration: at once", taints: []corev1.Taint{unreachable}, wantEvict: true},
		{name: "tolerates 300s, 100s in", taints: []corev1.Taint{unreachable}, tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300))},
			at: 100 * time.Second, wantAfter: 201 * time.Second}, // timeAdded counts from the end of its second
		{name: "tolerates 300s, 300s in", taints: []corev1.Taint{unreachable}, tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300))},
			at: 301 * time.Second, wantEvict: true},
		{name: "tolerates 300s, 300s in", taints: []corev1.Taint{unreachable}, tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300))},
			at: 300 * time.Second, wantAfter: time.Second},
		{name: "tolerates forever", taints: []corev1.Taint{unreachable}, tols: []corev1.Toleration{tol("", nil)}, at: time.Hour},
		{name: "smallest of the tolerations used", taints: []corev1.Taint{unreachable},
			tols: []corev1.Toleration{tol("", secs(600)), tol(corev1.TaintNodeUnreachable, secs(60))}, at: 10 * time.Second, wantAfter: 51 * time.Second},
		{name: "not tainted", tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(1))}},
		{name: "other taint not tolerated", taints: []corev1.Taint{unreachable, {Key: "x", Effect: corev1.TaintEffectNoExecute}},
			tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, wantEvict: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := node("a", corev1.ConditionUnknown, "")
			n.Spec.Taints = tc.taints
			e := newEnv(t, n, readyPod("p", "a", tc.tols...))
			e.clk.SetTime(t0.Add(tc.at))
			after, err := e.c.syncPod(context.Background(), "ns/p")
			if err != nil {
				t.Fatal(err)
			}
			if after != tc.wantAfter {
				t.Errorf("look again after %s, want %s", after, tc.wantAfter)
			}
			deleted := false
			for _, a := range e.cs.Actions() {
				if d, ok := a.(k8stesting.DeleteAction); ok && d.GetName() == "p" {
					deleted = true
				}
			}
			if deleted != tc.wantEvict {
				t.Fatalf("deleted = %v, want %v", deleted, tc.wantEvict)
			}
			if tc.wantEvict {
				if len(e.rec.events) != 1 || e.rec.events[0] != "Normal TaintManagerEviction Marking for deletion Pod ns/p" {
					t.Errorf("events %v", e.rec.events)
				}
			}
		})
	}
}
