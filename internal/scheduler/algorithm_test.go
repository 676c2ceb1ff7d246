package scheduler

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
	"github.com/skiff-dev/skiff/internal/scheduler/plugins"
)

func testNode(name string, milliCPU int64, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(milliCPU, resource.DecimalSI),
				corev1.ResourceMemory: resource.MustParse("8Gi"),
				corev1.ResourcePods:   resource.MustParse("110"),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

var uidSeq int

func testPod(name string, milliCPU int64, prio int32) *corev1.Pod {
	uidSeq++
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(fmt.Sprint(name, uidSeq))},
		Spec: corev1.PodSpec{Priority: ptr.To(prio), Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(milliCPU, resource.DecimalSI)}}}}},
	}
}

func info(n *corev1.Node, pods ...*corev1.Pod) *fw.NodeInfo {
	ni := fw.NewNodeInfo()
	ni.SetNode(n)
	for _, p := range pods {
		p.Spec.NodeName = n.Name
		ni.AddPod(fw.NewPodInfo(p))
	}
	return ni
}

func run(t *testing.T, pod *corev1.Pod, infos ...*fw.NodeInfo) (string, error, *algorithm, *fw.Snapshot) {
	t.Helper()
	a := newAlgorithm(plugins.Default(plugins.VolumeBinding{}), 0)
	a.intn = func(int) int { return 0 }
	snap := fw.NewSnapshot(infos...)
	node, err := a.schedule(context.Background(), fw.NewCycleState(), fw.NewPodInfo(pod), snap)
	return node, err, a, snap
}

func TestFitErrorMessage(t *testing.T) {
	taint := corev1.Taint{Key: "key", Value: "value", Effect: corev1.TaintEffectNoSchedule}
	_, err, _, _ := run(t, testPod("p", 2000, 0),
		info(testNode("a", 1000)), info(testNode("b", 1000)), info(testNode("c", 4000, taint)))
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu."
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if _, err, _, _ := run(t, testPod("p", 1, 0)); err == nil || err.Error() != ErrNoNodes {
		t.Fatalf("no nodes: %v", err)
	}
}

func TestSchedulePicksLeastAllocated(t *testing.T) {
	node, err, _, _ := run(t, testPod("p", 500, 0),
		info(testNode("busy", 4000), testPod("e", 3000, 0)), info(testNode("idle", 4000)))
	if err != nil || node != "idle" {
		t.Fatalf("got %q, %v; want idle", node, err)
	}
}

func TestPreemption(t *testing.T) {
	taint := corev1.Taint{Key: "key", Value: "value", Effect: corev1.TaintEffectNoSchedule}
	// a: two low pods (prio 1 and 5) fill it; b: one pod of prio 10 fills it; c: tainted.
	a := info(testNode("a", 2000), testPod("a1", 1000, 1), testPod("a5", 1000, 5))
	b := info(testNode("b", 2000), testPod("b10", 2000, 10))
	c := info(testNode("c", 4000, taint))
	p := testPod("p", 1000, 100)
	_, err, alg, snap := run(t, p, a, b, c)
	fe, ok := err.(*FitError)
	if !ok {
		t.Fatalf("want FitError, got %v", err)
	}
	cand, msg := alg.findCandidate(context.Background(), fw.NewPodInfo(p), snap, fe)
	if cand == nil {
		t.Fatalf("no candidate: %s", msg)
	}
	// On a, evicting a1 alone makes room: the least important, single victim.
	if cand.node != "a" || len(cand.victims) != 1 || cand.victims[0].Pod.Name != "a1" {
		t.Fatalf("candidate %s victims %d (%v)", cand.node, len(cand.victims), cand.victims)
	}
	// A pod of priority 3 can only evict a1 too; priority 1 can evict nothing anywhere.
	low := testPod("low", 1000, 1)
	_, err, alg, snap = run(t, low, a, b, c)
	cand, msg = alg.findCandidate(context.Background(), fw.NewPodInfo(low), snap, err.(*FitError))
	wantMsg := "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
	if cand != nil || msg != wantMsg {
		t.Fatalf("got %v, %q\nwant %q", cand, msg, wantMsg)
	}
	never := testPod("never", 1000, 100)
	never.Spec.PreemptionPolicy = ptr.To(corev1.PreemptNever)
	_, err, alg, snap = run(t, never, a, b, c)
	fe = err.(*FitError)
	cand, msg = alg.findCandidate(context.Background(), fw.NewPodInfo(never), snap, fe)
	fe.PostFilterMsg = msg
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
	if cand != nil || fe.Error() != want {
		t.Fatalf("got %v, %q\nwant %q", cand, fe.Error(), want)
	}
}

func TestPickCandidate(t *testing.T) {
	v := func(prio ...int32) []*fw.PodInfo {
		var out []*fw.PodInfo
		for _, p := range prio {
			out = append(out, fw.NewPodInfo(testPod("v", 1, p)))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		cands []*candidate
		want  string
	}{
		{"lowest highest priority", []*candidate{{node: "x", victims: v(5)}, {node: "y", victims: v(1, 1, 1)}}, "y"},
		{"lowest sum", []*candidate{{node: "x", victims: v(3, 3)}, {node: "y", victims: v(3, 1)}}, "y"},
		{"fewest victims", []*candidate{{node: "x", victims: v(2, 0)}, {node: "y", victims: v(2)}}, "y"},
		{"first on a tie", []*candidate{{node: "x", victims: v(2)}, {node: "y", victims: v(2)}}, "x"},
	} {
		if got := pickCandidate(tc.cands).node; got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestNumFeasibleToFind(t *testing.T) {
	a := newAlgorithm(nil, 0)
	for all, want := range map[int]int{10: 10, 99: 99, 100: 100, 1000: 420, 5000: 500, 10000: 500} {
		if got := a.numFeasibleToFind(all); got != want {
			t.Errorf("%d nodes: %d, want %d", all, got, want)
		}
	}
}
