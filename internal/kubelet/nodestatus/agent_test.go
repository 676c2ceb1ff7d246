package nodestatus

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
)

func getNode(t *testing.T, a *testAgent) *corev1.Node {
	t.Helper()
	n, err := a.client.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func drainEvents(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestSyncStatusWritesOnlyWhenDue walks the write policy: the first update after start writes,
// heartbeats alone wait for StatusReportFrequency, any real change writes at once.
func TestSyncStatusWritesOnlyWhenDue(t *testing.T) {
	rec := record.NewFakeRecorder(100)
	a := newTestAgent(t, func(c *Config) { c.Recorder = rec })
	ctx := context.Background()
	if err := a.register(ctx); err != nil {
		t.Fatal(err)
	}
	drainEvents(rec)
	patches := func() int { return countVerbs(a, "nodes")["patch"] }
	sync := func(step time.Duration) {
		t.Helper()
		a.clock.Step(step)
		if err := a.syncStatus(ctx); err != nil {
			t.Fatal(err)
		}
	}

	sync(time.Second)
	if patches() != 1 {
		t.Fatalf("first update after start: %d patches, want 1", patches())
	}
	ready := condition(getNode(t, a), corev1.NodeReady)
	if ready.Status != corev1.ConditionTrue || !ready.LastHeartbeatTime.Time.Equal(t0.Add(time.Second)) {
		t.Errorf("Ready = %+v", ready)
	}

	for i := 0; i < 10; i++ {
		sync(10 * time.Second)
	}
	if patches() != 1 {
		t.Errorf("unchanged status written: %d patches", patches())
	}

	*a.fs = fsStats{CapacityBytes: 100 * gi, AvailableBytes: 5 * gi, Inodes: 10, InodesFree: 9}
	sync(10 * time.Second)
	pressureAt := a.clock.Now()
	if patches() != 2 {
		t.Errorf("disk pressure not written at once: %d patches", patches())
	}
	n := getNode(t, a)
	if c := condition(n, corev1.NodeDiskPressure); c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Time.Equal(pressureAt) {
		t.Errorf("DiskPressure = %+v", c)
	}
	if ev := drainEvents(rec); len(ev) != 1 || ev[0] != "Normal NodeHasDiskPressure Node n1 status is now: NodeHasDiskPressure" {
		t.Errorf("events = %q", ev)
	}

	// Nothing changes (the pressure is held on): only the report frequency brings a write.
	sync(4*time.Minute + 50*time.Second)
	if patches() != 2 {
		t.Errorf("written before the report frequency: %d patches", patches())
	}
	sync(10 * time.Second)
	if patches() != 3 {
		t.Errorf("heartbeat not written after 5 minutes: %d patches", patches())
	}
	hb := condition(getNode(t, a), corev1.NodeReady).LastHeartbeatTime.Time
	if want := pressureAt.Add(5 * time.Minute); !hb.Equal(want) {
		t.Errorf("heartbeat %v, want %v", hb, want)
	}
}

func TestHostRefusalRecordedOnNode(t *testing.T) {
	rec := record.NewFakeRecorder(100)
	a := newTestAgent(t, func(c *Config) { c.Recorder = rec })
	ctx := context.Background()
	if err := a.register(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.syncStatus(ctx); err != nil {
		t.Fatal(err)
	}
	drainEvents(rec)
	if condition(getNode(t, a), ConditionHostSettingsRefused) != nil {
		t.Fatal("condition present before any refusal")
	}

	a.RecordHostRefusal("oom_score_adj", "negative values are refused; containers keep 0")
	a.RecordHostRefusal("oom_score_adj", "negative values are refused; containers keep 0")
	a.RecordHostRefusal("sysctl net.core.somaxconn", "read-only in this sandbox")
	if ev := drainEvents(rec); len(ev) != 2 || !strings.HasPrefix(ev[0], "Warning HostSettingRefused oom_score_adj: ") {
		t.Errorf("events = %q, want one warning per distinct refusal", ev)
	}
	select {
	case <-a.poke:
	default:
		t.Error("a refusal did not request a status update")
	}
	before := countVerbs(a, "nodes")["patch"]
	if err := a.syncStatus(ctx); err != nil {
		t.Fatal(err)
	}
	c := condition(getNode(t, a), ConditionHostSettingsRefused)
	want := "oom_score_adj: negative values are refused; containers keep 0; sysctl net.core.somaxconn: read-only in this sandbox"
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != ReasonHostSettingsRefused || c.Message != want {
		t.Fatalf("condition = %+v", c)
	}
	if countVerbs(a, "nodes")["patch"] != before+1 {
		t.Error("refusal not written")
	}
	a.clock.Step(10 * time.Second)
	if err := a.syncStatus(ctx); err != nil {
		t.Fatal(err)
	}
	if countVerbs(a, "nodes")["patch"] != before+1 {
		t.Error("unchanged refusals rewritten")
	}
}

func TestDeletedNodeRegistersAgain(t *testing.T) {
	a := newTestAgent(t, nil)
	ctx := context.Background()
	if err := a.register(ctx); err != nil {
		t.Fatal(err)
	}
	a.needsRegister = false
	if err := a.client.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := a.syncStatus(ctx); err == nil || !a.needsRegister {
		t.Fatalf("status update of a deleted node: err %v, needsRegister %v", err, a.needsRegister)
	}
}

// TestRunOnFakeClock drives Run through several periods on the injected clock: the Lease is
// renewed every interval, the status is written once and then only on a real change, a failing
// readiness check turns Ready within a poll interval of recovering, and nothing happens after
// the context ends.
func TestRunOnFakeClock(t *testing.T) {
	var mu sync.Mutex
	runtimeErr := errors.New("container runtime is down")
	check := func() error { mu.Lock(); defer mu.Unlock(); return runtimeErr }
	a := newTestAgent(t, func(c *Config) { c.ReadinessChecks = []ReadinessCheck{check} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case <-a.Registered():
	case <-time.After(10 * time.Second):
		t.Fatal("not registered")
	}
	// Waiters: the lease interval, the status timer and the readiness poll.
	waitFor(t, func() bool { return a.clock.Waiters() == 3 })
	if r := condition(getNode(t, a), corev1.NodeReady); r.Status != corev1.ConditionFalse || r.Message != runtimeErr.Error() {
		t.Fatalf("Ready = %+v", r)
	}
	if l := getLease(t, a); !l.Spec.RenewTime.Time.Equal(t0) {
		t.Fatalf("lease renewTime %v", l.Spec.RenewTime)
	}

	mu.Lock()
	runtimeErr = nil
	mu.Unlock()
	// API times have a resolution of a second; step one so that the transition time shows it.
	a.clock.Step(time.Second)
	waitFor(t, func() bool {
		r := condition(getNode(t, a), corev1.NodeReady)
		return r.Status == corev1.ConditionTrue
	})
	if r := condition(getNode(t, a), corev1.NodeReady); !r.LastTransitionTime.Time.Equal(t0.Add(time.Second)) {
		t.Errorf("Ready transition at %v, want t0+1s", r.LastTransitionTime)
	}
	waitFor(t, func() bool { return a.clock.Waiters() == 2 }) // ready: no more polling
	patches := countVerbs(a, "nodes")["patch"]

	for i := 1; i <= 6; i++ {
		a.clock.Step(10 * time.Second)
		waitFor(t, func() bool {
			return getLease(t, a).Spec.RenewTime.Time.Equal(a.clock.Now())
		})
		waitFor(t, func() bool { return a.clock.Waiters() == 2 })
	}
	if got := countVerbs(a, "nodes")["patch"]; got != patches {
		t.Errorf("status rewritten without a change: %d patches, was %d", got, patches)
	}

	a.RequestStatusUpdate()
	a.RecordHostRefusal("oom_score_adj", "refused")
	waitFor(t, func() bool { return condition(getNode(t, a), ConditionHostSettingsRefused) != nil })

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	renewed := getLease(t, a).Spec.RenewTime.Time
	a.client.ClearActions()
	a.clock.Step(time.Minute)
	time.Sleep(20 * time.Millisecond)
	if len(a.client.Actions()) != 0 || !getLease(t, a).Spec.RenewTime.Time.Equal(renewed) {
		t.Errorf("activity after stop: %v", a.client.Actions())
	}
}
