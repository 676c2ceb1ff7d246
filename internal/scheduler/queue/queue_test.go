package queue

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func mkPod(name string, prio int32) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)}, Spec: corev1.PodSpec{Priority: ptr.To(prio)}}
}

func popName(t *testing.T, q *Queue) (*QueuedPod, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	qp, cycle, err := q.Pop(ctx)
	if err != nil {
		t.Fatalf("pop: %v", err)
	}
	return qp, cycle
}

func TestPriorityOrder(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := New(Options{Clock: clk})
	q.Add(mkPod("low", 0))
	clk.Step(time.Millisecond)
	q.Add(mkPod("high", 100))
	clk.Step(time.Millisecond)
	q.Add(mkPod("low2", 0))
	var got []string
	for range 3 {
		qp, _ := popName(t, q)
		got = append(got, qp.Pod.Name)
	}
	want := []string{"high", "low", "low2"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestBackoffDuration(t *testing.T) {
	q := New(Options{})
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 9: 10 * time.Second} {
		if got := q.BackoffDuration(attempts); got != want {
			t.Errorf("attempts %d: %v, want %v", attempts, got, want)
		}
	}
}

func TestUnschedulableWaitsForEventThenBackoff(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := New(Options{Clock: clk})
	q.Add(mkPod("p", 0))
	qp, cycle := popName(t, q)
	q.AddUnschedulable(qp, cycle, sets.New("NodeResourcesFit"))
	if w := q.Where("p"); w != "unschedulable" {
		t.Fatalf("after failure: %q", w)
	}
	// Time alone does not bring it back (before the 5-minute leftover flush).
	clk.Step(time.Minute)
	q.FlushBackoff()
	q.FlushLeftover()
	if w := q.Where("p"); w != "unschedulable" {
		t.Fatalf("after a minute: %q", w)
	}
	// An event that cannot help leaves it parked.
	q.MoveAll(func(qp *QueuedPod) bool { return qp.UnschedulablePlugins.Has("VolumeBinding") })
	if w := q.Where("p"); w != "unschedulable" {
		t.Fatalf("after an unrelated event: %q", w)
	}
	// A relevant event: back-off (1 s after the first attempt) is long over, so active.
	q.MoveAll(nil)
	if w := q.Where("p"); w != "active" {
		t.Fatalf("after a relevant event: %q", w)
	}
	// Second failure, then an event right away: back-off is 2 s now, so it waits in back-off.
	qp, cycle = popName(t, q)
	q.AddUnschedulable(qp, cycle, nil)
	q.MoveAll(nil)
	if w := q.Where("p"); w != "backoff" {
		t.Fatalf("event during back-off: %q", w)
	}
	clk.Step(1999 * time.Millisecond)
	if next := q.FlushBackoff(); q.Where("p") != "backoff" || !next.Equal(clk.Now().Add(time.Millisecond)) {
		t.Fatalf("before back-off ends: %q, next %v", q.Where("p"), next)
	}
	clk.Step(time.Millisecond)
	q.FlushBackoff()
	if w := q.Where("p"); w != "active" {
		t.Fatalf("after back-off: %q", w)
	}
}

func TestEventDuringAttemptGoesToBackoff(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := New(Options{Clock: clk})
	q.Add(mkPod("p", 0))
	qp, cycle := popName(t, q)
	q.MoveAll(nil) // a node was added while the attempt ran
	q.AddUnschedulable(qp, cycle, sets.New("NodeResourcesFit"))
	if w := q.Where("p"); w != "backoff" {
		t.Fatalf("got %q, want backoff", w)
	}
}

func TestLeftoverFlush(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := New(Options{Clock: clk})
	q.Add(mkPod("p", 0))
	qp, cycle := popName(t, q)
	q.AddUnschedulable(qp, cycle, nil)
	clk.Step(5*time.Minute + time.Second)
	q.FlushLeftover()
	if w := q.Where("p"); w != "active" {
		t.Fatalf("got %q, want active", w)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := New(Options{Clock: clk})
	p := mkPod("p", 0)
	q.Add(p)
	qp, cycle := popName(t, q)
	q.AddUnschedulable(qp, cycle, nil)
	// A status-only update (our own condition) leaves it parked.
	st := p.DeepCopy()
	st.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.Update(st)
	if w := q.Where("p"); w != "unschedulable" {
		t.Fatalf("status update moved it: %q", w)
	}
	// A spec change moves it (to back-off: it failed just now).
	sp := st.DeepCopy()
	sp.Spec.NodeSelector = map[string]string{"a": "b"}
	q.Update(sp)
	if w := q.Where("p"); w != "backoff" {
		t.Fatalf("spec update: %q", w)
	}
	q.Delete(sp)
	if w := q.Where("p"); w != "" {
		t.Fatalf("after delete: %q", w)
	}
	// A pod deleted while in flight is not parked afterwards.
	q.Add(mkPod("f", 0))
	qp, cycle = popName(t, q)
	q.Delete(qp.Pod)
	q.AddUnschedulable(qp, cycle, nil)
	if s := q.Stats(); s != (Stats{}) {
		t.Fatalf("stats %+v, want empty", s)
	}
}

func TestRunMovesBackoffWithFakeClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := New(Options{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	q.Add(mkPod("p", 0))
	qp, _ := popName(t, q)
	q.AddBackoff(qp)
	// Wait for Run to arm its timer, then fire it.
	deadline := time.Now().Add(5 * time.Second)
	for !clk.HasWaiters() || q.Where("p") != "backoff" {
		if time.Now().After(deadline) {
			t.Fatal("Run never waited on the clock")
		}
		time.Sleep(time.Millisecond)
	}
	clk.Step(time.Second)
	got, _ := popName(t, q)
	if got.Pod.Name != "p" || got.Attempts != 2 {
		t.Fatalf("popped %s attempts %d", got.Pod.Name, got.Attempts)
	}
}
