package nodeipam

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func node(name, cidr string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if cidr != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	}
	return n
}

type harness struct {
	c        *Controller
	cs       *fake.Clientset
	f        informers.SharedInformerFactory
	recorder *record.FakeRecorder
}

func newHarness(t *testing.T, cluster string, mask int, nodes ...*corev1.Node) *harness {
	t.Helper()
	var objs []runtime.Object
	for _, n := range nodes {
		objs = append(objs, n)
	}
	cs := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(cs, 0)
	rec := record.NewFakeRecorder(10)
	c, err := New(Config{Client: cs, Informers: f, ClusterCIDR: cluster, NodeCIDRMaskSize: mask, Recorder: rec,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		f.Core().V1().Nodes().Informer().GetIndexer().Add(n)
	}
	if err := c.rebuild(); err != nil {
		t.Fatal(err)
	}
	return &harness{c: c, cs: cs, f: f, recorder: rec}
}

// sync runs one sync against the cache and then refreshes the cache from the fake API, as the
// informer would.
func (h *harness) sync(t *testing.T, name string) {
	t.Helper()
	if err := h.c.sync(context.Background(), name); err != nil {
		t.Fatalf("sync %s: %v", name, err)
	}
	n, err := h.cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err == nil {
		h.f.Core().V1().Nodes().Informer().GetIndexer().Update(n)
	}
}

func (h *harness) cidrOf(t *testing.T, name string) string {
	t.Helper()
	n, err := h.cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		t.Fatalf("node %s: podCIDR %q and podCIDRs %v disagree", name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
	}
	return n.Spec.PodCIDR
}

func (h *harness) remove(t *testing.T, name string) {
	t.Helper()
	if err := h.cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.f.Core().V1().Nodes().Informer().GetIndexer().Delete(node(name, ""))
	h.sync(t, name)
}

func (h *harness) add(t *testing.T, n *corev1.Node) {
	t.Helper()
	if _, err := h.cs.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.f.Core().V1().Nodes().Informer().GetIndexer().Add(n)
}

func TestAllocate(t *testing.T) {
	cases := []struct {
		name    string
		cluster string
		mask    int
		nodes   []*corev1.Node
		newNode string
		want    string
	}{
		{name: "first node gets the first range", cluster: "10.244.0.0/16", newNode: "a", want: "10.244.0.0/24"},
		{name: "ranges of existing nodes are never handed out", cluster: "10.244.0.0/16",
			nodes: []*corev1.Node{node("x", "10.244.0.0/24"), node("y", "10.244.1.0/24")}, newNode: "a", want: "10.244.2.0/24"},
		{name: "a range set by the agent is kept", cluster: "10.244.0.0/16",
			nodes: []*corev1.Node{node("a", "10.244.9.0/24")}, newNode: "a", want: "10.244.9.0/24"},
		{name: "a range outside the cluster CIDR is kept", cluster: "10.244.0.0/16",
			nodes: []*corev1.Node{node("a", "198.19.0.0/24")}, newNode: "a", want: "198.19.0.0/24"},
		{name: "mask size", cluster: "10.244.0.0/16", mask: 26,
			nodes: []*corev1.Node{node("x", "10.244.0.0/26")}, newNode: "a", want: "10.244.0.64/26"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cluster, tc.mask, tc.nodes...)
			if _, err := h.c.nodes.Get(tc.newNode); err != nil {
				h.add(t, node(tc.newNode, ""))
			}
			h.sync(t, tc.newNode)
			if got := h.cidrOf(t, tc.newNode); got != tc.want {
				t.Errorf("pod CIDR = %q, want %q", got, tc.want)
			}
			// A second sync changes nothing.
			h.cs.ClearActions()
			h.sync(t, tc.newNode)
			for _, a := range h.cs.Actions() {
				if a.GetVerb() == "patch" {
					t.Errorf("second sync wrote: %v", a)
				}
			}
		})
	}
}

func TestFullRangeThenRelease(t *testing.T) {
	h := newHarness(t, "10.244.0.0/23", 24, node("a", ""), node("b", ""))
	h.sync(t, "a")
	h.sync(t, "b")
	if a, b := h.cidrOf(t, "a"), h.cidrOf(t, "b"); a == b || a == "" || b == "" {
		t.Fatalf("a=%q b=%q, want two different ranges", a, b)
	}
	freed := h.cidrOf(t, "a")

	h.add(t, node("c", ""))
	h.sync(t, "c")
	if got := h.cidrOf(t, "c"); got != "" {
		t.Fatalf("c got %q from a full range", got)
	}
	select {
	case e := <-h.recorder.Events:
		if !strings.Contains(e, ReasonCIDRNotAvailable) || !strings.Contains(e, "Warning") {
			t.Errorf("event = %q, want a Warning %s", e, ReasonCIDRNotAvailable)
		}
	default:
		t.Fatal("no CIDRNotAvailable event")
	}
	// Still full: no second event.
	h.sync(t, "c")
	if len(h.recorder.Events) != 0 {
		t.Errorf("repeated event: %q", <-h.recorder.Events)
	}

	h.remove(t, "a")
	if h.c.queue.Len() != 1 {
		t.Fatalf("queue length after a release = %d, want the waiting node queued", h.c.queue.Len())
	}
	key, _ := h.c.queue.Get()
	h.c.queue.Done(key)
	if key != "c" {
		t.Fatalf("queued %q, want c", key)
	}
	h.sync(t, "c")
	if got := h.cidrOf(t, "c"); got != freed {
		t.Errorf("c = %q, want the freed %q", got, freed)
	}
}

func TestRestartNeverReusesARange(t *testing.T) {
	h := newHarness(t, "10.244.0.0/16", 24, node("a", ""), node("b", ""))
	h.sync(t, "a")
	h.sync(t, "b")
	a, b := h.cidrOf(t, "a"), h.cidrOf(t, "b")
	na, _ := h.cs.CoreV1().Nodes().Get(context.Background(), "a", metav1.GetOptions{})
	nb, _ := h.cs.CoreV1().Nodes().Get(context.Background(), "b", metav1.GetOptions{})
	// A new controller over the same Nodes.
	h2 := newHarness(t, "10.244.0.0/16", 24, na, nb, node("c", ""))
	h2.sync(t, "c")
	if c := h2.cidrOf(t, "c"); c == a || c == b || c == "" {
		t.Errorf("after a restart c got %q (a=%s b=%s)", c, a, b)
	}
}

func TestBadConfig(t *testing.T) {
	cs := fake.NewClientset()
	f := informers.NewSharedInformerFactory(cs, 0)
	for _, cfg := range []Config{
		{Client: cs, Informers: f, ClusterCIDR: "10.244.0.0"},
		{Client: cs, Informers: f, ClusterCIDR: "10.244.0.0/16,fd00::/48"},
		{Client: cs, Informers: f, ClusterCIDR: "10.244.0.0/16", NodeCIDRMaskSize: 8},
		{Informers: f},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
}
