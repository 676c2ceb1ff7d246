package nodestatus

import (
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	testingclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const gi = int64(1) << 30

// testAgent builds an Agent over host-a's testdata with 4 CPUs and a 100 GiB data filesystem that
// the test can change through *fs.
type testAgent struct {
	*Agent
	clock  *testingclock.FakeClock
	fs     *fsStats
	client *fake.Clientset
}

func newTestAgent(t *testing.T, mut func(*Config), objs ...corev1.Node) *testAgent {
	t.Helper()
	client := fake.NewClientset()
	for i := range objs {
		if err := client.Tracker().Add(&objs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return newTestAgentWith(t, client, mut)
}

func newTestAgentWith(t *testing.T, client *fake.Clientset, mut func(*Config)) *testAgent {
	t.Helper()
	clk := testingclock.NewFakeClock(t0)
	cfg := Config{
		NodeName: "n1",
		NodeIP:   net.ParseIP("10.0.0.5"),
		DataDir:  "/data",
		HostRoot: "testdata/host-a",
		Clock:    clk,
	}
	if mut != nil {
		mut(&cfg)
	}
	var ki kubernetes.Interface = client
	a, err := New(ki, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fs := &fsStats{CapacityBytes: 100 * gi, AvailableBytes: 50 * gi, Inodes: 1_000_000, InodesFree: 900_000}
	a.host.numCPU = func() int { return 4 }
	a.host.statfs = func(string) (fsStats, error) { return *fs, nil }
	return &testAgent{Agent: a, clock: clk, fs: fs, client: client}
}

func condition(n *corev1.Node, typ corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == typ {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
