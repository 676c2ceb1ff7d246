package runtimetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/runtime"
)

// Harness is what the suite needs from an implementation.
type Harness struct {
	// New returns a runtime over stateDir. The suite calls it again with the same directory to
	// act out a node agent restart (after Close on the first instance).
	New func(t *testing.T, stateDir string) runtime.Runtime
	// Image names an image whose containers can run the suite's scripts: `sh -c` with echo,
	// sleep, exit, trap, wait and cat.
	Image string
	// CgroupParent returns the pod cgroup for a sandbox of the test ("" if unused).
	CgroupParent func(t *testing.T, podUID string) string
	// AfterCleanup, when set, runs once a test removed everything: it checks that nothing is
	// left on the host.
	AfterCleanup func(t *testing.T, stateDir string)
}

// Run runs the contract suite against an implementation.
func Run(t *testing.T, h Harness) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"SandboxLifecycle", testSandboxLifecycle},
		{"ExitCodesAndLogs", testExitCodesAndLogs},
		{"StopWithGracePeriod", testStopWithGracePeriod},
		{"ExecSync", testExecSync},
		{"ExecStreams", testExecStreams},
		{"Errors", testErrors},
		{"ListFilters", testListFilters},
		{"RestartAdoption", testRestartAdoption},
		{"Attach", testAttach},
		{"AttachStdinOnce", testAttachStdinOnce},
		{"AttachAfterRestart", testAttachAfterRestart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{h: h, t: t, dir: t.TempDir(), ctx: context.Background()}
			e.rt = h.New(t, filepath.Join(e.dir, "state"))
			t.Cleanup(func() {
				e.cleanup()
				if h.AfterCleanup != nil {
					h.AfterCleanup(t, filepath.Join(e.dir, "state"))
				}
			})
			tc.fn(t, e)
		})
	}
}

type env struct {
	h   Harness
	t   *testing.T
	dir string
	ctx context.Context
	rt  runtime.Runtime
	n   int
}

// cleanup removes every sandbox the runtime knows, so that failures leave nothing behind.
func (e *env) cleanup() {
	sbs, _ := e.rt.ListPodSandbox(e.ctx, nil)
	for _, s := range sbs {
		if err := e.rt.RemovePodSandbox(e.ctx, s.ID); err != nil {
			e.t.Errorf("cleanup: removing sandbox %s: %v", s.ID, err)
		}
	}
	e.rt.Close()
}

func (e *env) sandbox(cfg runtime.SandboxConfig) string {
	e.t.Helper()
	e.n++
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("pod%d", e.n)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.UID == "" {
		cfg.UID = fmt.Sprintf("uid-%d-%d", time.Now().UnixNano(), e.n)
	}
	if e.h.CgroupParent != nil && cfg.CgroupParent == "" {
		cfg.CgroupParent = e.h.CgroupParent(e.t, cfg.UID)
	}
	id, err := e.rt.RunPodSandbox(e.ctx, &cfg)
	if err != nil {
		e.t.Fatalf("RunPodSandbox: %v", err)
	}
	return id
}

func (e *env) container(sb, name, script string, mod ...func(*runtime.ContainerConfig)) string {
	e.t.Helper()
	cfg := &runtime.ContainerConfig{
		Name: name, Image: e.h.Image, Command: []string{"sh", "-c", script},
		LogPath: filepath.Join(e.dir, name+".log"), Labels: map[string]string{"name": name},
	}
	for _, m := range mod {
		m(cfg)
	}
	id, err := e.rt.CreateContainer(e.ctx, sb, cfg)
	if err != nil {
		e.t.Fatalf("CreateContainer %s: %v", name, err)
	}
	return id
}

func (e *env) start(id string) {
	e.t.Helper()
	if err := e.rt.StartContainer(e.ctx, id); err != nil {
		e.t.Fatalf("StartContainer: %v", err)
	}
}

func (e *env) status(id string) *runtime.ContainerStatus {
	e.t.Helper()
	st, err := e.rt.ContainerStatus(e.ctx, id)
	if err != nil {
		e.t.Fatalf("ContainerStatus: %v", err)
	}
	return st
}

// waitExited polls until the container exited.
func (e *env) waitExited(id string, within time.Duration) *runtime.ContainerStatus {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := e.status(id)
		if st.State == runtime.ContainerExited {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s still %s after %v", st.Name, st.State, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// LogLines reads a CRI log file; it fails the test on a malformed line.
func LogLines(t testing.TB, path string) []runtime.LogLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading log: %v", err)
	}
	var out []runtime.LogLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l, err := runtime.ParseLogLine(sc.Bytes())
		if err != nil {
			t.Fatalf("log %s: %v", path, err)
		}
		out = append(out, l)
	}
	return out
}

func testSandboxLifecycle(t *testing.T, e *env) {
	before := time.Now().Add(-time.Second)
	sb := e.sandbox(runtime.SandboxConfig{Name: "web", Hostname: "web-host", Labels: map[string]string{"app": "web"}})
	st, err := e.rt.PodSandboxStatus(e.ctx, sb)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.SandboxReady || st.Name != "web" || st.Namespace != "default" || st.Hostname != "web-host" ||
		st.Labels["app"] != "web" || st.CreatedAt.Before(before) || st.Pid <= 0 {
		t.Fatalf("status of a fresh sandbox: %+v", st)
	}
	if st.NetNSPath == "" {
		t.Errorf("a pod network sandbox has no netns path")
	}
	host := e.sandbox(runtime.SandboxConfig{HostNetwork: true})
	if st, _ := e.rt.PodSandboxStatus(e.ctx, host); st.NetNSPath != "" || !st.HostNetwork {
		t.Errorf("hostNetwork sandbox: %+v", st)
	}
	list, _ := e.rt.ListPodSandbox(e.ctx, &runtime.SandboxFilter{Labels: map[string]string{"app": "web"}})
	if len(list) != 1 || list[0].ID != sb {
		t.Fatalf("list by label: %+v", list)
	}
	if err := e.rt.StopPodSandbox(e.ctx, sb); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.StopPodSandbox(e.ctx, sb); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if st, _ := e.rt.PodSandboxStatus(e.ctx, sb); st.State != runtime.SandboxNotReady {
		t.Fatalf("stopped sandbox is %s", st.State)
	}
	if err := e.rt.RemovePodSandbox(e.ctx, sb); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.PodSandboxStatus(e.ctx, sb); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("status of a removed sandbox: %v", err)
	}
	if err := e.rt.RemovePodSandbox(e.ctx, sb); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
}

func testExitCodesAndLogs(t *testing.T, e *env) {
	sb := e.sandbox(runtime.SandboxConfig{})
	fail := e.container(sb, "fail", "echo out; echo err >&2; exit 3")
	ok := e.container(sb, "ok", "echo fine")
	if st := e.status(fail); st.State != runtime.ContainerCreated || !st.StartedAt.IsZero() || st.CreatedAt.IsZero() {
		t.Fatalf("created container: %+v", st)
	}
	e.start(fail)
	e.start(ok)
	st := e.waitExited(fail, 10*time.Second)
	if st.ExitCode != 3 || st.Reason != runtime.ReasonError || st.FinishedAt.Before(st.StartedAt) || st.StartedAt.IsZero() {
		t.Errorf("failed container: %+v", st)
	}
	if st := e.waitExited(ok, 10*time.Second); st.ExitCode != 0 || st.Reason != runtime.ReasonCompleted {
		t.Errorf("completed container: %+v", st)
	}
	lines := LogLines(t, filepath.Join(e.dir, "fail.log"))
	got := map[string]string{}
	for _, l := range lines {
		if l.Partial {
			t.Errorf("partial line %+v", l)
		}
		got[l.Stream] += string(l.Content)
	}
	if got["stdout"] != "out" || got["stderr"] != "err" || len(lines) != 2 {
		t.Errorf("log lines: %+v", lines)
	}
}

func testStopWithGracePeriod(t *testing.T, e *env) {
	sb := e.sandbox(runtime.SandboxConfig{})
	stubborn := e.container(sb, "stubborn", "trap '' TERM; sleep 60 & wait; sleep 60")
	polite := e.container(sb, "polite", "trap 'exit 0' TERM; sleep 60 & wait")
	e.start(stubborn)
	e.start(polite)
	time.Sleep(200 * time.Millisecond) // let the shells install their traps

	t0 := time.Now()
	if err := e.rt.StopContainer(e.ctx, polite, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("a container exiting on SIGTERM took %v to stop", d)
	}
	if st := e.status(polite); st.State != runtime.ContainerExited || st.ExitCode != 0 {
		t.Errorf("polite: %+v", st)
	}

	t0 = time.Now()
	if err := e.rt.StopContainer(e.ctx, stubborn, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 500*time.Millisecond || d > 5*time.Second {
		t.Errorf("a container ignoring SIGTERM stopped after %v, want the 500ms grace period", d)
	}
	if st := e.status(stubborn); st.State != runtime.ContainerExited || st.ExitCode != 137 {
		t.Errorf("stubborn: %+v", st)
	}
	if err := e.rt.StopContainer(e.ctx, stubborn, time.Second); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}
}

func testExecSync(t *testing.T, e *env) {
	sb := e.sandbox(runtime.SandboxConfig{})
	id := e.container(sb, "c", "sleep 60")
	if _, err := e.rt.ExecSync(e.ctx, id, []string{"sh", "-c", "echo x"}, time.Second); !errors.Is(err, runtime.ErrFailedPrecondition) {
		t.Errorf("exec in a created container: %v", err)
	}
	e.start(id)
	res, err := e.rt.ExecSync(e.ctx, id, []string{"sh", "-c", "echo hello; echo oops >&2; exit 2"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "hello\n" || string(res.Stderr) != "oops\n" || res.ExitCode != 2 || res.TimedOut {
		t.Errorf("exec result: %+v (%q, %q)", res, res.Stdout, res.Stderr)
	}
	t0 := time.Now()
	res, err = e.rt.ExecSync(e.ctx, id, []string{"sh", "-c", "sleep 30"}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || time.Since(t0) > 5*time.Second {
		t.Errorf("exec past its timeout: %+v after %v", res, time.Since(t0))
	}
	if st := e.status(id); st.State != runtime.ContainerRunning {
		t.Errorf("the container is %s after a timed out exec", st.State)
	}
}

func testExecStreams(t *testing.T, e *env) {
	sb := e.sandbox(runtime.SandboxConfig{})
	id := e.container(sb, "c", "sleep 60")
	e.start(id)
	var out, errb bytes.Buffer
	code, err := e.rt.Exec(e.ctx, id, &runtime.ExecRequest{
		Cmd: []string{"cat"}, Stdin: strings.NewReader("from stdin\n"), Stdout: &out, Stderr: &errb,
	})
	if err != nil || code != 0 || out.String() != "from stdin\n" {
		t.Errorf("exec cat: code %d, err %v, out %q, stderr %q", code, err, out.String(), errb.String())
	}
}

func testErrors(t *testing.T, e *env) {
	if _, err := e.rt.CreateContainer(e.ctx, "nope", &runtime.ContainerConfig{Name: "c", Image: e.h.Image}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("create in an unknown sandbox: %v", err)
	}
	if _, err := e.rt.ContainerStatus(e.ctx, "nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("status of an unknown container: %v", err)
	}
	if err := e.rt.StartContainer(e.ctx, "nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("start of an unknown container: %v", err)
	}
	if err := e.rt.RemoveContainer(e.ctx, "nope"); err != nil {
		t.Errorf("removing an unknown container: %v", err)
	}
	sb := e.sandbox(runtime.SandboxConfig{})
	id := e.container(sb, "c", "sleep 60")
	if _, err := e.rt.CreateContainer(e.ctx, sb, &runtime.ContainerConfig{Name: "c", Image: e.h.Image, Command: []string{"true"}}); !errors.Is(err, runtime.ErrAlreadyExists) {
		t.Errorf("same name and attempt twice: %v", err)
	}
	if _, err := e.rt.CreateContainer(e.ctx, sb, &runtime.ContainerConfig{Name: "x", Image: "no-such-image:1"}); err == nil {
		t.Errorf("create from a missing image succeeded")
	}
	e.start(id)
	if err := e.rt.StartContainer(e.ctx, id); !errors.Is(err, runtime.ErrFailedPrecondition) {
		t.Errorf("start twice: %v", err)
	}
	if err := e.rt.RemoveContainer(e.ctx, id); err != nil {
		t.Fatalf("removing a running container: %v", err)
	}
	if _, err := e.rt.ContainerStatus(e.ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("status after remove: %v", err)
	}
	if err := e.rt.StopPodSandbox(e.ctx, sb); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.CreateContainer(e.ctx, sb, &runtime.ContainerConfig{Name: "late", Image: e.h.Image, Command: []string{"true"}}); !errors.Is(err, runtime.ErrFailedPrecondition) {
		t.Errorf("create in a stopped sandbox: %v", err)
	}
}

func testListFilters(t *testing.T, e *env) {
	sb1 := e.sandbox(runtime.SandboxConfig{})
	sb2 := e.sandbox(runtime.SandboxConfig{})
	a := e.container(sb1, "a", "sleep 60")
	b := e.container(sb1, "b", "exit 0")
	c := e.container(sb2, "c", "sleep 60")
	e.start(a)
	e.start(b)
	e.waitExited(b, 10*time.Second)
	ids := func(f *runtime.ContainerFilter) []string {
		l, err := e.rt.ListContainers(e.ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range l {
			out = append(out, s.Name)
		}
		return sorted(out)
	}
	for _, tc := range []struct {
		f    *runtime.ContainerFilter
		want []string
	}{
		{nil, []string{"a", "b", "c"}},
		{&runtime.ContainerFilter{SandboxID: sb1}, []string{"a", "b"}},
		{&runtime.ContainerFilter{State: runtime.ContainerRunning}, []string{"a"}},
		{&runtime.ContainerFilter{State: runtime.ContainerExited}, []string{"b"}},
		{&runtime.ContainerFilter{State: runtime.ContainerCreated}, []string{"c"}},
		{&runtime.ContainerFilter{Labels: map[string]string{"name": "c"}}, []string{"c"}},
		{&runtime.ContainerFilter{ID: a}, []string{"a"}},
	} {
		if got := ids(tc.f); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("filter %+v: got %v, want %v", tc.f, got, tc.want)
		}
	}
	_ = c
	// Removing a sandbox removes its containers.
	if err := e.rt.RemovePodSandbox(e.ctx, sb1); err != nil {
		t.Fatal(err)
	}
	if got := ids(nil); strings.Join(got, ",") != "c" {
		t.Errorf("after removing sandbox 1: %v", got)
	}
}

func sorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func testRestartAdoption(t *testing.T, e *env) {
	sb := e.sandbox(runtime.SandboxConfig{})
	id := e.container(sb, "survivor", "echo before; sleep 2 & wait; echo after; exit 7")
	e.start(id)
	done := e.container(sb, "done", "exit 4")
	e.start(done)
	e.waitExited(done, 10*time.Second)
	created := e.container(sb, "created", "exit 0")

	// The agent goes away; the container must not notice.
	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	e.rt = e.h.New(t, filepath.Join(e.dir, "state"))

	if st, err := e.rt.PodSandboxStatus(e.ctx, sb); err != nil || st.State != runtime.SandboxReady {
		t.Fatalf("adopted sandbox: %+v, %v", st, err)
	}
	if st := e.status(id); st.State != runtime.ContainerRunning || st.Pid <= 0 {
		t.Fatalf("adopted container: %+v", st)
	}
	if st := e.status(done); st.State != runtime.ContainerExited || st.ExitCode != 4 {
		t.Errorf("container that ended before the restart: %+v", st)
	}
	if st := e.status(created); st.State != runtime.ContainerCreated {
		t.Errorf("created container after the restart: %+v", st)
	}
	st := e.waitExited(id, 15*time.Second)
	if st.ExitCode != 7 {
		t.Errorf("adopted container's exit: %+v", st)
	}
	var out []string
	for _, l := range LogLines(t, filepath.Join(e.dir, "survivor.log")) {
		out = append(out, string(l.Content))
	}
	if strings.Join(out, ",") != "before,after" {
		t.Errorf("log across the restart: %q", out)
	}
	e.start(created)
	if st := e.waitExited(created, 10*time.Second); st.ExitCode != 0 {
		t.Errorf("container created before the restart, started after: %+v", st)
	}
}

// SyncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// WaitFor polls until the buffer holds want.
func (b *SyncBuffer) WaitFor(t testing.TB, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %q, got %q", within, want, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func withStdin(once bool) func(*runtime.ContainerConfig) {
	return func(c *runtime.ContainerConfig) { c.Stdin, c.StdinOnce = true, once }
}

// session is an attach in progress whose input the test writes.
type session struct {
	stdin    *io.PipeWriter
	out, err *SyncBuffer
	done     chan error
	cancel   context.CancelFunc
}

func (e *env) attach(id string) *session {
	ctx, cancel := context.WithCancel(e.ctx)
	r, w := io.Pipe()
	s := &session{stdin: w, out: &SyncBuffer{}, err: &SyncBuffer{}, done: make(chan error, 1), cancel: cancel}
	e.t.Cleanup(func() { cancel(); w.Close() })
	go func() {
		s.done <- e.rt.Attach(ctx, id, &runtime.AttachRequest{Stdin: r, Stdout: s.out, Stderr: s.err})
	}()
	return s
}

func (s *session) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("the attach session did not end")
		return nil
	}
}

// echo writes a line and waits for the container (a cat) to give it back.
func (s *session) echo(t *testing.T, line string) {
	t.Helper()
	go io.WriteString(s.stdin, line+"\n")
	s.out.WaitFor(t, line+"\n", 15*time.Second)
}

// testAttach: input reaches the container, its output comes back as it is written; the client's
// input ending detaches it (no StdinOnce) and the container runs on; attaching again works.
func testAttach(t *testing.T, e *env) {
	sb := e.sandbox(runtime.SandboxConfig{})
	id := e.container(sb, "c", "cat", withStdin(false))
	if err := e.rt.Attach(e.ctx, id, &runtime.AttachRequest{Stdout: io.Discard}); !errors.Is(err, runtime.ErrFailedPrecondition) {
		t.Errorf("attach to a created container: %v", err)
	}
	if err := e.rt.Attach(e.ctx, "nope", &runtime.AttachRequest{Stdout: io.Discard}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("attach to an unknown container: %v", err)
	}
	e.start(id)
	for _, word := range []string{"one", "two"} {
		s := e.attach(id)
		s.echo(t, word)
		s.stdin.Close()
		if err := s.wait(t); err != nil {
			t.Fatalf("session %s: %v", word, err)
		}
		if st := e.status(id); st.State != runtime.ContainerRunning {
			t.Fatalf("the container is %s after a detach", st.State)
		}
		if got := s.out.String(); got != word+"\n" {
			t.Errorf("session %s got %q", word, got)
		}
	}
	// Two sessions at once both see the output; a session without input just listens.
	listener := &SyncBuffer{}
	ctx, cancel := context.WithCancel(e.ctx)
	listened := make(chan error, 1)
	go func() { listened <- e.rt.Attach(ctx, id, &runtime.AttachRequest{Stdout: listener}) }()
	time.Sleep(200 * time.Millisecond) // let it attach: output from before is not replayed
	s := e.attach(id)
	s.echo(t, "three")
	listener.WaitFor(t, "three\n", 15*time.Second)
	cancel()
	if err := <-listened; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled session: %v", err)
	}
	if err := e.rt.StopContainer(e.ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.wait(t); err != nil {
		t.Errorf("a session ended by the container's end: %v", err)
	}
	var lines []string
	for _, l := range LogLines(t, filepath.Join(e.dir, "c.log")) {
		lines = append(lines, string(l.Content))
	}
	if strings.Join(lines, ",") != "one,two,three" {
		t.Errorf("log %q", lines)
	}
}

// testAttachStdinOnce: the client's EOF reaches the container, whose output (both streams) the
// session relays until it ends; a session ended by its client closes the input too.
func testAttachStdinOnce(t *testing.T, e *env) {
	sb := e.sandbox(runtime.SandboxConfig{})
	id := e.container(sb, "once", "cat; echo done >&2; exit 3", withStdin(true))
	e.start(id)
	var out, errb SyncBuffer
	err := e.rt.Attach(e.ctx, id, &runtime.AttachRequest{Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello\n" || errb.String() != "done\n" {
		t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
	}
	if st := e.waitExited(id, 10*time.Second); st.ExitCode != 3 {
		t.Errorf("exit %+v", st)
	}

	id = e.container(sb, "cancelled", "cat; echo done", withStdin(true))
	e.start(id)
	s := e.attach(id)
	s.echo(t, "x")
	s.cancel()
	if err := s.wait(t); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled session: %v", err)
	}
	if st := e.waitExited(id, 10*time.Second); st.ExitCode != 0 {
		t.Errorf("exit %+v", st)
	}
	var lines []string
	for _, l := range LogLines(t, filepath.Join(e.dir, "cancelled.log")) {
		lines = append(lines, string(l.Content))
	}
	if strings.Join(lines, ",") != "x,done" {
		t.Errorf("log %q", lines)
	}
}

// testAttachAfterRestart: a new runtime instance attaches to a container an earlier one started.
func testAttachAfterRestart(t *testing.T, e *env) {
	sb := e.sandbox(runtime.SandboxConfig{})
	id := e.container(sb, "c", "cat; exit 5", withStdin(true))
	e.start(id)
	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	e.rt = e.h.New(t, filepath.Join(e.dir, "state"))
	s := e.attach(id)
	s.echo(t, "adopted")
	s.stdin.Close()
	if err := s.wait(t); err != nil {
		t.Fatal(err)
	}
	if st := e.waitExited(id, 10*time.Second); st.ExitCode != 5 {
		t.Errorf("exit %+v", st)
	}
}
