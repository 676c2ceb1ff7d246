package fake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skiff-dev/skiff/internal/runtime"
)

// worlds are the "hosts" of fake runtimes, one per state directory, so that a new Runtime over
// the same directory finds what an earlier one started (as after an agent restart).
var (
	worldsMu sync.Mutex
	worlds   = map[string]*world{}
)

type world struct {
	mu         sync.Mutex
	sandboxes  map[string]*sandbox
	containers map[string]*container
}

type sandbox struct {
	status runtime.SandboxStatus
}

type container struct {
	sandboxID string
	cfg       runtime.ContainerConfig
	args, env []string
	status    runtime.ContainerStatus
	proc      *process
	// stdin is the write end of the container's input (cfg.Stdin), nil after StdinOnce closed it.
	stdin *io.PipeWriter
	out   *fanout
}

// Runtime is an in-memory runtime.Runtime. Processes are goroutines interpreting a small shell
// language (see Script), so that kubelet tests can script containers without a host.
type Runtime struct {
	w      *world
	images runtime.RootfsSource
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a fake runtime over stateDir (used only as a key: nothing is written). images may
// be nil: then every image exists, with an empty configuration.
func New(stateDir string, images runtime.RootfsSource) *Runtime {
	worldsMu.Lock()
	defer worldsMu.Unlock()
	w, ok := worlds[stateDir]
	if !ok {
		w = &world{sandboxes: map[string]*sandbox{}, containers: map[string]*container{}}
		worlds[stateDir] = w
	}
	return &Runtime{w: w, images: images}
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *Runtime) Close() error { return nil }

func (r *Runtime) RunPodSandbox(ctx context.Context, cfg *runtime.SandboxConfig) (string, error) {
	id := newID()
	st := runtime.SandboxStatus{
		ID: id, Name: cfg.Name, Namespace: cfg.Namespace, UID: cfg.UID, Attempt: cfg.Attempt,
		State: runtime.SandboxReady, CreatedAt: time.Now(), Pid: 1, Hostname: cfg.Hostname,
		CgroupParent: cfg.CgroupParent, HostNetwork: cfg.HostNetwork, Labels: cfg.Labels, Annotations: cfg.Annotations,
	}
	if st.Hostname == "" {
		st.Hostname = cfg.Name
	}
	if !cfg.HostNetwork {
		st.NetNSPath = "/var/run/netns/fake-" + id
	}
	r.w.mu.Lock()
	r.w.sandboxes[id] = &sandbox{status: st}
	r.w.mu.Unlock()
	return id, nil
}

func (r *Runtime) StopPodSandbox(ctx context.Context, id string) error {
	r.w.mu.Lock()
	s, ok := r.w.sandboxes[id]
	var procs []*process
	for _, c := range r.w.containers {
		if c.sandboxID == id && c.proc != nil {
			procs = append(procs, c.proc)
		}
	}
	r.w.mu.Unlock()
	if !ok {
		return fmt.Errorf("sandbox %q: %w", id, runtime.ErrNotFound)
	}
	for _, p := range procs {
		p.kill()
	}
	r.w.mu.Lock()
	s.status.State, s.status.Pid, s.status.NetNSPath = runtime.SandboxNotReady, 0, ""
	r.w.mu.Unlock()
	return nil
}

func (r *Runtime) RemovePodSandbox(ctx context.Context, id string) error {
	if err := r.StopPodSandbox(ctx, id); errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	for cid, c := range r.w.containers {
		if c.sandboxID == id {
			delete(r.w.containers, cid)
		}
	}
	delete(r.w.sandboxes, id)
	return nil
}

func (r *Runtime) PodSandboxStatus(ctx context.Context, id string) (*runtime.SandboxStatus, error) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	s, ok := r.w.sandboxes[id]
	if !ok {
		return nil, fmt.Errorf("sandbox %q: %w", id, runtime.ErrNotFound)
	}
	st := s.status
	return &st, nil
}

func (r *Runtime) ListPodSandbox(ctx context.Context, f *runtime.SandboxFilter) ([]*runtime.SandboxStatus, error) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	var out []*runtime.SandboxStatus
	for _, s := range r.w.sandboxes {
		if st := s.status; f.Matches(&st) {
			out = append(out, &st)
		}
	}
	return out, nil
}

func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg *runtime.ContainerConfig) (string, error) {
	var img runtime.ImageConfig
	if r.images != nil {
		var err error
		if _, img, err = r.images.Mounts(cfg.Image); err != nil {
			return "", fmt.Errorf("image %s: %w", cfg.Image, err)
		}
	}
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	s, ok := r.w.sandboxes[sandboxID]
	if !ok {
		return "", fmt.Errorf("sandbox %q: %w", sandboxID, runtime.ErrNotFound)
	}
	if s.status.State != runtime.SandboxReady {
		return "", fmt.Errorf("sandbox %s is not ready: %w", sandboxID, runtime.ErrFailedPrecondition)
	}
	for _, c := range r.w.containers {
		if c.sandboxID == sandboxID && c.cfg.Name == cfg.Name && c.cfg.Attempt == cfg.Attempt {
			return "", fmt.Errorf("container %s: %w", cfg.Name, runtime.ErrAlreadyExists)
		}
	}
	id := newID()
	r.w.containers[id] = &container{
		sandboxID: sandboxID, cfg: *cfg,
		args: runtime.ResolveArgs(cfg.Command, cfg.Args, img),
		env:  runtime.MergeEnv(img.Env, cfg.Env),
		status: runtime.ContainerStatus{
			ID: id, SandboxID: sandboxID, Name: cfg.Name, Attempt: cfg.Attempt, Image: cfg.Image, ImageRef: img.ID,
			State: runtime.ContainerCreated, CreatedAt: time.Now(), LogPath: cfg.LogPath,
			Labels: cfg.Labels, Annotations: cfg.Annotations,
		},
	}
	return id, nil
}

func (r *Runtime) get(id string) (*container, error) {
	c, ok := r.w.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	return c, nil
}

func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	c, err := r.get(id)
	if err != nil {
		return err
	}
	if c.status.State != runtime.ContainerCreated {
		return fmt.Errorf("container %s is %s: %w", id, c.status.State, runtime.ErrFailedPrecondition)
	}
	var log io.Writer = io.Discard
	if c.cfg.LogPath != "" {
		f, err := os.OpenFile(c.cfg.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return err
		}
		log = f
	}
	out, errw := &criWriter{w: log, stream: "stdout"}, &criWriter{w: log, stream: "stderr"}
	c.out = &fanout{subs: map[*attachment]struct{}{}}
	var stdout, stderr io.Writer = &tee{f: c.out, log: out}, &tee{f: c.out, log: errw, stderr: true}
	if c.cfg.TTY {
		stderr = &tee{f: c.out, log: out}
	}
	var stdin io.Reader
	var stdinR *io.PipeReader
	if c.cfg.Stdin {
		stdinR, c.stdin = io.Pipe()
		stdin = stdinR
	}
	p := startProcess(c.args, stdin, stdout, stderr)
	if stdinR != nil {
		// A script reading its input hears no signal: SIGKILL ends the read.
		p.onKill = func() { stdinR.CloseWithError(errors.New("killed")) }
	}
	c.proc = p
	c.status.State, c.status.StartedAt, c.status.Pid = runtime.ContainerRunning, time.Now(), 1000+len(r.w.containers)
	go func() {
		code := p.wait()
		if stdinR != nil {
			stdinR.Close() // writers waiting for a reader give up
		}
		out.flush()
		errw.flush()
		if f, ok := log.(*os.File); ok {
			f.Close()
		}
		r.w.mu.Lock()
		defer r.w.mu.Unlock()
		c.status.State, c.status.ExitCode, c.status.FinishedAt, c.status.Pid = runtime.ContainerExited, code, time.Now(), 0
		c.status.Reason = runtime.ExitReason(code, false)
	}()
	return nil
}

func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	r.w.mu.Lock()
	c, err := r.get(id)
	r.w.mu.Unlock()
	if err != nil {
		return err
	}
	p := c.proc
	if p == nil || p.ended() {
		return nil
	}
	p.term()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill()
	case <-ctx.Done():
		p.kill()
	}
	<-p.done
	// The status is updated by the start goroutine: wait for it, as a real runtime would have.
	for {
		r.w.mu.Lock()
		exited := c.status.State == runtime.ContainerExited
		r.w.mu.Unlock()
		if exited {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
}

func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if err := r.StopContainer(ctx, id, 0); errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	r.w.mu.Lock()
	delete(r.w.containers, id)
	r.w.mu.Unlock()
	return nil
}

func (r *Runtime) ContainerStatus(ctx context.Context, id string) (*runtime.ContainerStatus, error) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	c, err := r.get(id)
	if err != nil {
		return nil, err
	}
	st := c.status
	return &st, nil
}

func (r *Runtime) ListContainers(ctx context.Context, f *runtime.ContainerFilter) ([]*runtime.ContainerStatus, error) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	var out []*runtime.ContainerStatus
	for _, c := range r.w.containers {
		if st := c.status; f.Matches(&st) {
			out = append(out, &st)
		}
	}
	return out, nil
}

func (r *Runtime) ReopenContainerLog(ctx context.Context, id string) error {
	_, err := r.ContainerStatus(ctx, id)
	return err
}

func (r *Runtime) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (*runtime.ExecResult, error) {
	var out, errb bytes.Buffer
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	code, err := r.Exec(ctx, id, &runtime.ExecRequest{Cmd: cmd, Stdout: &out, Stderr: &errb})
	res := &runtime.ExecResult{Stdout: out.Bytes(), Stderr: errb.Bytes(), ExitCode: code}
	if err != nil && timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
		res.TimedOut = true
		return res, nil
	}
	return res, err
}

func (r *Runtime) Exec(ctx context.Context, id string, req *runtime.ExecRequest) (int, error) {
	st, err := r.ContainerStatus(ctx, id)
	if err != nil {
		return -1, err
	}
	if st.State != runtime.ContainerRunning {
		return -1, fmt.Errorf("container %s is not running: %w", id, runtime.ErrFailedPrecondition)
	}
	stdout, stderr := orDiscard(req.Stdout), orDiscard(req.Stderr)
	p := startProcess(req.Cmd, req.Stdin, stdout, stderr)
	select {
	case <-p.done:
		return p.code, nil
	case <-ctx.Done():
		p.kill()
		<-p.done
		return -1, ctx.Err()
	}
}

// Attach relays the container's output as its script writes it and feeds the script's stdin.
func (r *Runtime) Attach(ctx context.Context, id string, req *runtime.AttachRequest) error {
	r.w.mu.Lock()
	c, err := r.get(id)
	if err != nil {
		r.w.mu.Unlock()
		return err
	}
	if c.status.State != runtime.ContainerRunning {
		r.w.mu.Unlock()
		return fmt.Errorf("container %s is not running: %w", id, runtime.ErrFailedPrecondition)
	}
	cfg, proc, fan, stdin := c.cfg, c.proc, c.out, c.stdin
	r.w.mu.Unlock()

	sub := &attachment{stdout: req.Stdout, stderr: req.Stderr}
	if cfg.TTY {
		sub.stderr = req.Stdout
	}
	fan.add(sub)
	defer fan.remove(sub)
	input := req.Stdin != nil && stdin != nil
	detached := make(chan struct{})
	var sessionOver sync.Mutex // held while input is written, so that none arrives after the end
	over := false
	if input {
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := req.Stdin.Read(buf)
				sessionOver.Lock()
				if over {
					sessionOver.Unlock()
					return
				}
				if n > 0 {
					stdin.Write(buf[:n])
				}
				sessionOver.Unlock()
				if err != nil {
					if cfg.StdinOnce && !cfg.TTY {
						r.closeStdin(c)
					} else {
						close(detached)
					}
					return
				}
			}
		}()
	}
	select {
	case <-proc.done:
	case <-detached:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if input {
		go func() { // not under the caller: a write may still wait for the script to read
			sessionOver.Lock()
			over = true
			sessionOver.Unlock()
		}()
		if cfg.StdinOnce && !cfg.TTY {
			r.closeStdin(c)
		}
	}
	return err
}

func (r *Runtime) closeStdin(c *container) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	if c.stdin != nil {
		c.stdin.Close()
		c.stdin = nil
	}
}

// fanout hands a container's output to the attached callers as it is written.
type fanout struct {
	mu   sync.Mutex
	subs map[*attachment]struct{}
}

type attachment struct{ stdout, stderr io.Writer }

func (f *fanout) add(a *attachment) {
	f.mu.Lock()
	f.subs[a] = struct{}{}
	f.mu.Unlock()
}

func (f *fanout) remove(a *attachment) {
	f.mu.Lock()
	delete(f.subs, a)
	f.mu.Unlock()
}

// tee writes a stream to the log and to the attached callers.
type tee struct {
	f      *fanout
	log    io.Writer
	stderr bool
}

func (t *tee) Write(p []byte) (int, error) {
	t.log.Write(p)
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	for a := range t.f.subs {
		w := a.stdout
		if t.stderr {
			w = a.stderr
		}
		if w != nil {
			w.Write(p)
		}
	}
	return len(p), nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// criWriter turns a stream into CRI log lines.
type criWriter struct {
	mu     sync.Mutex
	w      io.Writer
	stream string
	buf    []byte
}

func (c *criWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	for {
		i := bytes.IndexByte(c.buf, '\n')
		if i < 0 {
			break
		}
		c.w.Write(runtime.FormatLogLine(nil, runtime.LogLine{Time: time.Now(), Stream: c.stream, Content: c.buf[:i]}))
		c.buf = c.buf[i+1:]
	}
	return len(p), nil
}

func (c *criWriter) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) > 0 {
		c.w.Write(runtime.FormatLogLine(nil, runtime.LogLine{Time: time.Now(), Stream: c.stream, Content: c.buf}))
		c.buf = nil
	}
}

// process is a running script.
type process struct {
	done chan struct{}
	code int
	sigs chan string // "TERM" or "KILL"
	// onKill, when set, runs before SIGKILL is delivered.
	onKill func()
}

func (p *process) term() {
	select {
	case p.sigs <- "TERM":
	default:
	}
}

func (p *process) kill() {
	if p.onKill != nil {
		p.onKill()
	}
	select {
	case p.sigs <- "KILL":
	case <-p.done:
	}
	<-p.done
}

func (p *process) wait() int { <-p.done; return p.code }

func (p *process) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func startProcess(args []string, stdin io.Reader, stdout, stderr io.Writer) *process {
	p := &process{done: make(chan struct{}), sigs: make(chan string, 4)}
	script := strings.Join(args, " ")
	if len(args) >= 3 && args[0] == "sh" && args[1] == "-c" {
		script = args[2]
	}
	go func() {
		p.code = Script(script, stdin, stdout, stderr, p.sigs)
		close(p.done)
	}()
	return p
}

// Script interprets the little shell language of fake containers: statements separated by ";"
// among `echo WORDS [>&2]`, `exit N`, `true`, `false`, `sleep N` (SIGTERM waits for it),
// `sleep N & wait` (SIGTERM interrupts it), `trap ” TERM`, `trap 'exit N' TERM` and `cat`
// (stdin to stdout). SIGTERM without a trap is ignored, as by a PID 1 without a handler; SIGKILL
// ends the script with 137. Anything else fails with 127, as a missing command does.
func Script(script string, stdin io.Reader, stdout, stderr io.Writer, sigs <-chan string) int {
	termExit := -1 // exit code on SIGTERM; -1: ignored
	pendingTerm := false
	// sleep waits d; it returns the exit code if a signal ends the script, else -1.
	sleep := func(d time.Duration, interruptible bool) int {
		t := time.NewTimer(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if pendingTerm && termExit >= 0 {
					return termExit
				}
				return -1
			case s := <-sigs:
				if s == "KILL" {
					return 137
				}
				if termExit >= 0 {
					if interruptible {
						return termExit
					}
					pendingTerm = true
				}
			}
		}
	}
	for _, stmt := range strings.Split(script, ";") {
		f := strings.Fields(strings.TrimSpace(stmt))
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "echo":
			words, w := f[1:], stdout
			if len(words) > 0 && words[len(words)-1] == ">&2" {
				words, w = words[:len(words)-1], stderr
			}
			fmt.Fprintln(w, strings.Join(words, " "))
		case f[0] == "exit":
			code := 0
			if len(f) > 1 {
				code, _ = strconv.Atoi(f[1])
			}
			return code
		case f[0] == "true":
		case f[0] == "false":
			return 1
		case f[0] == "sleep" && len(f) >= 2:
			secs, _ := strconv.ParseFloat(f[1], 64)
			interruptible := len(f) == 4 && f[2] == "&" && f[3] == "wait"
			if code := sleep(time.Duration(secs*float64(time.Second)), interruptible); code >= 0 {
				return code
			}
		case f[0] == "trap" && len(f) >= 3 && f[len(f)-1] == "TERM":
			action := strings.Trim(strings.Join(f[1:len(f)-1], " "), "'\"")
			if code, ok := strings.CutPrefix(action, "exit "); ok {
				termExit, _ = strconv.Atoi(code)
			} else {
				termExit = -1
			}
		case f[0] == "cat" && len(f) == 1:
			if stdin != nil {
				io.Copy(stdout, stdin)
				select {
				case s := <-sigs:
					if s == "KILL" {
						return 137
					}
					if termExit >= 0 {
						return termExit
					}
				default:
				}
			}
		default:
			fmt.Fprintf(stderr, "sh: %s: not found\n", f[0])
			return 127
		}
	}
	return 0
}
