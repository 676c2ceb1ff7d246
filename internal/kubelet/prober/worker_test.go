package prober

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeExec answers ExecSync from a script of exit codes (the last one
// repeats) and records the commands it ran.
type fakeExec struct {
	mu    sync.Mutex
	codes []int
	err   error
	out   string
	calls [][]string
	ids   []string
}

func (f *fakeExec) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, []byte, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, cmd)
	f.ids = append(f.ids, id)
	if f.err != nil {
		return nil, nil, -1, f.err
	}
	code := 0
	if len(f.codes) > 0 {
		code = f.codes[0]
		if len(f.codes) > 1 {
			f.codes = f.codes[1:]
		}
	}
	return []byte(f.out), nil, code, nil
}

func (f *fakeExec) set(codes ...int) {
	f.mu.Lock()
	f.codes = codes
	f.mu.Unlock()
}

func (f *fakeExec) ncalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

type fakeStatuses struct {
	mu sync.Mutex
	m  map[types.UID]v1.PodStatus
}

func (f *fakeStatuses) GetPodStatus(uid types.UID) (v1.PodStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[uid]
	return *s.DeepCopy(), ok
}

func (f *fakeStatuses) put(uid types.UID, s v1.PodStatus) {
	f.mu.Lock()
	f.m[uid] = s
	f.mu.Unlock()
}

func execProbe() *v1.Probe {
	return &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"check"}}},
		PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
}

func testPod(c v1.Container) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"},
		Spec:       v1.PodSpec{Containers: []v1.Container{c}, RestartPolicy: v1.RestartPolicyAlways},
	}
}

func running(name, id string, startedAt time.Time) v1.PodStatus {
	return v1.PodStatus{Phase: v1.PodRunning, PodIP: "127.0.0.1", ContainerStatuses: []v1.ContainerStatus{{
		Name: name, ContainerID: id,
		State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(startedAt)}},
	}}}
}

type harness struct {
	m     *Manager
	clock *clocktesting.FakeClock
	exec  *fakeExec
	st    *fakeStatuses
	pod   *v1.Pod
}

func newHarness(t *testing.T, c v1.Container) *harness {
	t.Helper()
	h := &harness{clock: clocktesting.NewFakeClock(t0), exec: &fakeExec{}, st: &fakeStatuses{m: map[types.UID]v1.PodStatus{}}}
	h.m = NewManager(Config{Exec: h.exec, Statuses: h.st, Clock: h.clock, UpdatesBuffer: 1000, EventsBuffer: 1000})
	t.Cleanup(h.m.Stop)
	h.pod = testPod(c)
	h.m.pods[string(h.pod.UID)] = h.pod
	h.st.put(h.pod.UID, running(c.Name, "fake://c1", t0))
	return h
}

// worker builds a worker without starting its goroutine, so tests drive
// doProbe round by round.
func (h *harness) worker(kind Kind) *worker {
	c := h.pod.Spec.Containers[0]
	w := &worker{m: h.m, key: workerKey{string(h.pod.UID), c.Name, kind}, container: c, spec: probeOf(&c, kind),
		trigger: make(chan struct{}, 1), done: make(chan struct{})}
	h.m.workers[w.key] = w
	close(w.done) // never run as a goroutine; lets Stop return
	return w
}

func (h *harness) updates() []Update {
	var out []Update
	for {
		select {
		case u := <-h.m.Updates():
			out = append(out, u)
		default:
			return out
		}
	}
}

func (h *harness) events() []Event {
	var out []Event
	for {
		select {
		case e := <-h.m.Events():
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestThresholds(t *testing.T) {
	tests := []struct {
		name      string
		kind      Kind
		success   int32
		failure   int32
		codes     []int
		want      []Result // cached result after each round
		wantKills int
	}{
		{"readiness starts failing and needs one success", Readiness, 1, 3, []int{0}, []Result{Success}, 0},
		{"readiness success threshold 3", Readiness, 3, 1, []int{0, 0, 0, 1}, []Result{Failure, Failure, Success, Failure}, 0},
		{"readiness success run broken by a failure", Readiness, 2, 3, []int{0, 1, 0, 0}, []Result{Failure, Failure, Failure, Success}, 0},
		{"readiness failure threshold 3 keeps ready", Readiness, 1, 3, []int{0, 1, 1, 1}, []Result{Success, Success, Success, Failure}, 0},
		{"liveness tolerates failures below threshold", Liveness, 1, 3, []int{1, 1, 0, 1, 1}, []Result{Success, Success, Success, Success, Success}, 0},
		{"liveness kills at threshold then holds", Liveness, 1, 2, []int{1, 1, 1, 1}, []Result{Success, Failure, Failure, Failure}, 1},
		{"liveness success threshold forced to 1", Liveness, 5, 1, []int{0}, []Result{Success}, 0},
		{"startup unknown until success", Startup, 1, 3, []int{1, 0}, []Result{Unknown, Success}, 0},
		{"startup failure kills", Startup, 1, 1, []int{1}, []Result{Failure}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := execProbe()
			p.SuccessThreshold, p.FailureThreshold = tt.success, tt.failure
			c := v1.Container{Name: "app"}
			switch tt.kind {
			case Liveness:
				c.LivenessProbe = p
			case Readiness:
				c.ReadinessProbe = p
			case Startup:
				c.StartupProbe = p
			}
			h := newHarness(t, c)
			h.exec.set(tt.codes...)
			w := h.worker(tt.kind)
			for i, want := range tt.want {
				if !w.doProbe(context.Background()) {
					t.Fatalf("round %d: worker stopped", i)
				}
				if got, _ := h.m.results.Get(tt.kind, "fake://c1"); got != want {
					t.Fatalf("round %d: result %v, want %v", i, got, want)
				}
			}
			kills := 0
			for _, u := range h.updates() {
				if u.Kill {
					kills++
				}
			}
			if kills != tt.wantKills {
				t.Fatalf("kills = %d, want %d", kills, tt.wantKills)
			}
			// A kill puts the worker on hold: the exec count must stop growing.
			if tt.wantKills > 0 {
				if n := h.exec.ncalls(); n != slices.Index(tt.want, Failure)+1 {
					t.Fatalf("probe ran %d times after hold", n)
				}
			}
		})
	}
}

func TestLivenessKillAndRestart(t *testing.T) {
	p := execProbe()
	p.FailureThreshold = 1
	p.TerminationGracePeriodSeconds = ptr.To[int64](7)
	h := newHarness(t, v1.Container{Name: "app", LivenessProbe: p})
	h.exec.set(1)
	h.exec.out = "boom"
	w := h.worker(Liveness)
	w.doProbe(context.Background())
	ups := h.updates()
	if len(ups) != 2 || ups[0].Result != Success || ups[1].Result != Failure {
		t.Fatalf("updates = %+v", ups)
	}
	k := ups[1]
	if !k.Kill || k.KillMessage != "Container app failed liveness probe, will be restarted" ||
		k.GracePeriodSeconds == nil || *k.GracePeriodSeconds != 7 || k.PodUID != "uid-1" || k.ContainerID != "fake://c1" {
		t.Fatalf("kill update = %+v", k)
	}
	if ev := h.events(); len(ev) != 1 || ev[0].Message != "Liveness probe failed: boom" || ev[0].Reason != "Unhealthy" ||
		ev[0].FieldPath != "spec.containers{app}" || ev[0].Type != v1.EventTypeWarning {
		t.Fatalf("events = %+v", ev)
	}
	if h.exec.ids[0] != "c1" {
		t.Fatalf("exec got container id %q, want the bare id", h.exec.ids[0])
	}
	// On hold: nothing runs while the old container lingers.
	w.doProbe(context.Background())
	if h.exec.ncalls() != 1 {
		t.Fatal("probed a container already marked for kill")
	}
	// The kubelet restarted it: a new ID resets the result and resumes probing.
	h.st.put(h.pod.UID, running("app", "fake://c2", t0))
	h.exec.set(0)
	w.doProbe(context.Background())
	if _, ok := h.m.results.Get(Liveness, "fake://c1"); ok {
		t.Fatal("result of the old container kept")
	}
	if r, _ := h.m.results.Get(Liveness, "fake://c2"); r != Success || h.exec.ncalls() != 2 {
		t.Fatalf("new container: result %v calls %d", r, h.exec.ncalls())
	}
}

func TestInitialDelay(t *testing.T) {
	p := execProbe()
	p.InitialDelaySeconds = 30
	h := newHarness(t, v1.Container{Name: "app", ReadinessProbe: p})
	w := h.worker(Readiness)
	for _, step := range []struct {
		advance time.Duration
		calls   int
	}{{0, 0}, {29 * time.Second, 0}, {time.Second, 1}} {
		h.clock.Step(step.advance)
		w.doProbe(context.Background())
		if n := h.exec.ncalls(); n != step.calls {
			t.Fatalf("after %v: %d probe runs, want %d", h.clock.Since(t0), n, step.calls)
		}
	}
}

func TestStartupGatesOthers(t *testing.T) {
	c := v1.Container{Name: "app", StartupProbe: execProbe(), LivenessProbe: execProbe(), ReadinessProbe: execProbe()}
	c.StartupProbe.ProbeHandler.Exec.Command = []string{"startup"}
	h := newHarness(t, c)
	live, ready, start := h.worker(Liveness), h.worker(Readiness), h.worker(Startup)
	h.exec.set(1) // startup fails once
	for _, w := range []*worker{live, ready, start} {
		w.doProbe(context.Background())
	}
	if h.exec.ncalls() != 1 || h.exec.calls[0][0] != "startup" {
		t.Fatalf("calls before startup succeeded: %v", h.exec.calls)
	}
	st := running("app", "fake://c1", t0)
	h.m.UpdatePodStatus(h.pod, &st)
	if cs := st.ContainerStatuses[0]; *cs.Started || cs.Ready {
		t.Fatalf("started/ready before startup probe passed: %+v", cs)
	}
	h.exec.set(0)
	start.doProbe(context.Background())
	select {
	case <-ready.trigger:
	default:
		t.Fatal("startup success did not trigger the readiness worker")
	}
	live.doProbe(context.Background())
	ready.doProbe(context.Background())
	if h.exec.ncalls() != 4 {
		t.Fatalf("calls after startup: %v", h.exec.calls)
	}
	start.doProbe(context.Background())
	if h.exec.ncalls() != 4 {
		t.Fatal("startup probe kept running after success")
	}
	st = running("app", "fake://c1", t0)
	h.m.UpdatePodStatus(h.pod, &st)
	if cs := st.ContainerStatuses[0]; !*cs.Started || !cs.Ready {
		t.Fatalf("want started and ready: %+v", cs)
	}
}

func TestWorkerStops(t *testing.T) {
	tests := []struct {
		name     string
		kind     Kind
		mutate   func(h *harness)
		wantRun  bool
		wantLast Result
	}{
		{"terminated under restartPolicy Never", Readiness, func(h *harness) {
			h.pod.Spec.RestartPolicy = v1.RestartPolicyNever
			st := running("app", "fake://c1", t0)
			st.ContainerStatuses[0].State = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1}}
			h.st.put(h.pod.UID, st)
		}, false, Failure},
		{"terminated under Always keeps waiting", Readiness, func(h *harness) {
			st := running("app", "fake://c1", t0)
			st.ContainerStatuses[0].State = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1}}
			h.st.put(h.pod.UID, st)
		}, true, Failure},
		{"pod succeeded", Readiness, func(h *harness) {
			st := running("app", "fake://c1", t0)
			st.Phase = v1.PodSucceeded
			h.st.put(h.pod.UID, st)
		}, false, Unknown},
		{"deleting pod silences liveness", Liveness, func(h *harness) {
			h.pod.DeletionTimestamp = &metav1.Time{Time: t0}
		}, false, Success},
		{"deleting pod keeps readiness", Readiness, func(h *harness) {
			h.pod.DeletionTimestamp = &metav1.Time{Time: t0}
		}, true, Success},
		{"pod removed", Readiness, func(h *harness) { delete(h.m.pods, "uid-1") }, false, Unknown},
		{"no status yet", Readiness, func(h *harness) { h.st.m = map[types.UID]v1.PodStatus{} }, true, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := v1.Container{Name: "app"}
			if tt.kind == Liveness {
				c.LivenessProbe = execProbe()
			} else {
				c.ReadinessProbe = execProbe()
			}
			h := newHarness(t, c)
			tt.mutate(h)
			w := h.worker(tt.kind)
			if got := w.doProbe(context.Background()); got != tt.wantRun {
				t.Fatalf("keep running = %v, want %v", got, tt.wantRun)
			}
			got, ok := h.m.results.Get(tt.kind, "fake://c1")
			if !ok {
				got = Unknown
			}
			if got != tt.wantLast {
				t.Fatalf("result = %v, want %v", got, tt.wantLast)
			}
		})
	}
}

func TestExecProbe(t *testing.T) {
	tests := []struct {
		name      string
		env       []v1.EnvVar
		cmd       []string
		code      int
		err       error
		wantCmd   []string
		wantRes   Result
		wantEvent string
		wantCalls int
	}{
		{"expands static env", []v1.EnvVar{{Name: "A", Value: "x"}, {Name: "B", Value: "$(A)y"}, {Name: "S", ValueFrom: &v1.EnvVarSource{}}},
			[]string{"test", "$(B)", "$(S)", "$$(A)"}, 0, nil, []string{"test", "xy", "$(S)", "$(A)"}, Success, "", 1},
		{"non-zero exit", nil, []string{"false"}, 2, nil, []string{"false"}, Failure, "Readiness probe failed: out", 1},
		{"timeout", nil, []string{"sleep", "9"}, 0, fmt.Errorf("exec: %w", context.DeadlineExceeded), []string{"sleep", "9"}, Failure,
			`Readiness probe failed: command "sleep 9" timed out`, 1},
		{"runtime error retried", nil, []string{"x"}, 0, errors.New("container not running"), []string{"x"}, Failure,
			"Readiness probe errored and resulted in unknown state: container not running", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := execProbe()
			p.Exec.Command = tt.cmd
			p.FailureThreshold = 1
			h := newHarness(t, v1.Container{Name: "app", Env: tt.env, ReadinessProbe: p})
			h.exec.set(tt.code)
			h.exec.err, h.exec.out = tt.err, "out"
			h.worker(Readiness).doProbe(context.Background())
			if h.exec.ncalls() != tt.wantCalls || !slices.Equal(h.exec.calls[0], tt.wantCmd) {
				t.Fatalf("calls = %q", h.exec.calls)
			}
			if r, _ := h.m.results.Get(Readiness, "fake://c1"); r != tt.wantRes {
				t.Fatalf("result %v want %v", r, tt.wantRes)
			}
			ev := h.events()
			if tt.wantEvent == "" {
				if len(ev) != 0 {
					t.Fatalf("unexpected events %+v", ev)
				}
				return
			}
			if len(ev) != 1 || ev[0].Message != tt.wantEvent {
				t.Fatalf("events = %+v, want %q", ev, tt.wantEvent)
			}
		})
	}
}

func TestUpdatePodStatus(t *testing.T) {
	sidecarPolicy := v1.ContainerRestartPolicyAlways
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u"}, Spec: v1.PodSpec{
		InitContainers: []v1.Container{{Name: "init"}, {Name: "side", RestartPolicy: &sidecarPolicy, ReadinessProbe: execProbe()}},
		Containers: []v1.Container{
			{Name: "plain"},
			{Name: "ready", ReadinessProbe: execProbe()},
			{Name: "unready", ReadinessProbe: execProbe()},
			{Name: "noresult", ReadinessProbe: execProbe()},
			{Name: "starting", StartupProbe: execProbe()},
			{Name: "stopped"},
		},
	}}
	m := NewManager(Config{Statuses: &fakeStatuses{}})
	defer m.Stop()
	ctx := context.Background()
	m.results.set(ctx, Update{Kind: Readiness, ContainerID: "id-ready", Result: Success})
	m.results.set(ctx, Update{Kind: Readiness, ContainerID: "id-unready", Result: Failure})
	m.results.set(ctx, Update{Kind: Readiness, ContainerID: "id-side", Result: Success})
	m.results.set(ctx, Update{Kind: Startup, ContainerID: "id-starting", Result: Unknown})
	run := v1.ContainerState{Running: &v1.ContainerStateRunning{}}
	st := &v1.PodStatus{
		InitContainerStatuses: []v1.ContainerStatus{
			{Name: "init", State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 0}}},
			{Name: "side", ContainerID: "id-side", State: run},
		},
	}
	for _, n := range []string{"plain", "ready", "unready", "noresult", "starting"} {
		st.ContainerStatuses = append(st.ContainerStatuses, v1.ContainerStatus{Name: n, ContainerID: "id-" + n, State: run})
	}
	st.ContainerStatuses = append(st.ContainerStatuses, v1.ContainerStatus{Name: "stopped", ContainerID: "id-stopped",
		State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{}}})
	m.UpdatePodStatus(pod, st)
	want := map[string][2]bool{ // started, ready
		"plain": {true, true}, "ready": {true, true}, "unready": {true, false}, "noresult": {true, false},
		"starting": {false, false}, "stopped": {false, false}, "side": {true, true},
	}
	for _, cs := range append(st.InitContainerStatuses[1:], st.ContainerStatuses...) {
		if got := [2]bool{*cs.Started, cs.Ready}; got != want[cs.Name] {
			t.Errorf("%s: started,ready = %v, want %v", cs.Name, got, want[cs.Name])
		}
	}
	if !st.InitContainerStatuses[0].Ready {
		t.Error("init container that exited 0 must be ready")
	}
}

// TestManagerRunLoop drives real worker goroutines with the fake clock:
// nothing sleeps, each period is one clock step.
func TestManagerRunLoop(t *testing.T) {
	p := execProbe()
	p.FailureThreshold = 2
	h := newHarness(t, v1.Container{Name: "app", ReadinessProbe: p})
	delete(h.m.pods, "uid-1")
	h.exec.set(0)
	h.m.AddPod(h.pod)
	h.m.AddPod(h.pod) // idempotent
	next := func() Update {
		t.Helper()
		select {
		case u := <-h.m.Updates():
			return u
		case <-time.After(10 * time.Second):
			t.Fatal("no update")
		}
		return Update{}
	}
	if u := next(); u.Result != Failure || u.Kind != Readiness {
		t.Fatalf("initial update %+v", u)
	}
	if u := next(); u.Result != Success {
		t.Fatalf("first probe update %+v", u)
	}
	h.exec.set(1)
	for i := 0; i < 2; i++ {
		waitFor(t, func() bool { return h.clock.HasWaiters() })
		before := h.exec.ncalls()
		h.clock.Step(10 * time.Second)
		waitFor(t, func() bool { return h.exec.ncalls() > before })
	}
	if u := next(); u.Result != Failure || u.Output != "" || u.Kill {
		t.Fatalf("failure update %+v", u)
	}
	h.m.RemovePod(h.pod.UID)
	waitFor(t, func() bool { return h.m.results.len() == 0 })
	h.m.mu.Lock()
	n := len(h.m.workers)
	h.m.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d workers left", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestKillGracePeriod(t *testing.T) {
	pod := &v1.Pod{Spec: v1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](60)}}
	for _, tt := range []struct {
		pod  *v1.Pod
		p    *v1.Probe
		want int64
	}{
		{pod, &v1.Probe{TerminationGracePeriodSeconds: ptr.To[int64](5)}, 5},
		{pod, &v1.Probe{}, 60},
		{&v1.Pod{}, nil, 30},
	} {
		if got := KillGracePeriod(tt.pod, tt.p); got != tt.want {
			t.Errorf("got %d want %d", got, tt.want)
		}
	}
}
