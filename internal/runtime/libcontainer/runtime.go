package libcontainer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	lc "github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/utils"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/initseccomp"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/shim"
)

// Config configures a Runtime.
type Config struct {
	// StateDir holds every sandbox's and container's files (and libcontainer's state). Node
	// agents side by side use different ones; an agent restarted over the same one adopts what
	// runs.
	StateDir string
	// Images supplies containers' root filesystems.
	Images runtime.RootfsSource
	Logger *slog.Logger
}

// Runtime implements runtime.Runtime on libcontainer.
type Runtime struct {
	cfg    Config
	log    *slog.Logger
	lcRoot string
	exe    string // this binary, the pause process's program

	mu         sync.Mutex
	sandboxes  map[string]*sandbox
	containers map[string]*container

	warnOnce     sync.Map    // message -> struct{}: host refusals logged once
	negOOMDenied atomic.Bool // the host refused a negative oom_score_adj

	bpfMu sync.Mutex
	bpf   map[[32]byte]*initseccomp.Program // seccomp programs by profile, for inits and the shims' execs
}

var _ runtime.Runtime = (*Runtime)(nil)

// New opens (or creates) the state under cfg.StateDir and adopts the sandboxes and containers
// found there.
func New(cfg Config) (*Runtime, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r := &Runtime{
		cfg: cfg, log: cfg.Logger.With("component", "runtime"), exe: exe,
		lcRoot:     filepath.Join(cfg.StateDir, "lc"),
		sandboxes:  map[string]*sandbox{},
		containers: map[string]*container{},
		bpf:        map[[32]byte]*initseccomp.Program{},
	}
	for _, d := range []string{r.lcRoot, r.sandboxDir(""), r.containerDir("")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if !seccomp.Enabled {
		r.warn("seccomp support is not compiled in (build with -tags seccomp and libseccomp): containers run without the default seccomp profile")
	}
	if err := r.adopt(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Runtime) sandboxDir(id string) string { return filepath.Join(r.cfg.StateDir, "sandboxes", id) }
func (r *Runtime) containerDir(id string) string {
	return filepath.Join(r.cfg.StateDir, "containers", id)
}

// warn logs a host refusal once per runtime.
func (r *Runtime) warn(msg string, args ...any) {
	if _, loaded := r.warnOnce.LoadOrStore(msg, struct{}{}); !loaded {
		r.log.Warn(msg, args...)
	}
}

// Close stops watching the shims. Containers keep running.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sandboxes {
		s.proc.unwatch()
	}
	for _, c := range r.containers {
		c.proc.unwatch()
	}
	return nil
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// proc is one libcontainer container run under a shim: an infra process or an app container.
type proc struct {
	id, dir string

	mu   sync.Mutex
	done <-chan struct{} // closed when the shim exited (the process ended); nil: not watched
	stop func()
	exit *shim.Exit
	lost bool // started, but its shim is gone without an exit status
}

func (p *proc) unwatch() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		p.stop()
		p.stop = nil
	}
}

// watch (re)attaches to the shim; false when it is gone.
func (p *proc) watch(pid int) bool {
	done, stop, err := shim.Watch(p.dir)
	if err != nil {
		return false
	}
	if pid > 0 {
		if err := shim.SetMainPid(p.dir, pid); err != nil {
			stop()
			return false
		}
	}
	p.mu.Lock()
	p.done, p.stop = done, stop
	p.mu.Unlock()
	return true
}

// ended reports whether a started process has ended, reading its exit status when it has.
func (p *proc) ended() (bool, *shim.Exit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exit != nil || p.lost {
		return true, p.exit
	}
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return false, nil
		}
	}
	ex, err := shim.ReadExit(p.dir)
	if err != nil {
		if p.done == nil {
			// Not watched: a shim that is still there answers.
			if _, stop, err := shim.Watch(p.dir); err == nil {
				stop()
				return false, nil
			}
		}
		p.lost = true
		return true, nil
	}
	p.exit = ex
	return true, ex
}

// wait blocks until the process ended or the timeout passed; true if it ended.
func (p *proc) wait(ctx context.Context, d time.Duration) bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		ended, _ := p.ended()
		return ended
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// start runs config's init process under a new shim whose output goes to logPath, and returns
// the init's pid once it runs the container's program. stdio says what the shim holds besides
// the output pipes: the container's stdin pipe, or its terminal's master (which libcontainer's
// init sends through a console socket, and this hands on to the shim).
func (r *Runtime) start(p *proc, config *configs.Config, process *lc.Process, logPath string, stdio shim.Stdio) (int, error) {
	h, err := shim.StartIO(p.dir, logPath, stdio)
	if err != nil {
		return 0, err
	}
	if h.Stdin != nil {
		process.Stdin = h.Stdin
	}
	var console *os.File
	if stdio.TTY {
		parent, child, err := utils.NewSockPair("console")
		if err != nil {
			h.Close()
			killPid(h.Pid)
			return 0, err
		}
		defer parent.Close()
		defer child.Close()
		process.ConsoleSocket, console = child, parent
	}
	defer h.Close()
	r.protectShim(h.Pid)
	if r.negOOMDenied.Load() && config.OomScoreAdj != nil && *config.OomScoreAdj < 0 {
		config.OomScoreAdj = ptr(0)
	}
	c, err := lc.Create(r.lcRoot, p.id, config)
	if err != nil {
		killPid(h.Pid)
		return 0, fmt.Errorf("creating container: %w", err)
	}
	process.Stdout, process.Stderr, process.Init = h.Stdout, h.Stderr, true
	if err := c.Run(process); err != nil {
		c.Destroy()
		killPid(h.Pid)
		return 0, fmt.Errorf("starting container: %w", err)
	}
	h.Close()
	if console != nil {
		process.ConsoleSocket.Close()
		if err := r.handTerminal(p.dir, console); err != nil {
			process.Signal(unix.SIGKILL)
			killPid(h.Pid)
			return 0, err
		}
	}
	pid, err := process.Pid()
	if err != nil {
		return 0, err
	}
	if !p.watch(pid) {
		return 0, errors.New("shim vanished")
	}
	return pid, nil
}

// handTerminal receives the container's terminal master from libcontainer's init and gives it
// to the shim: only the shim may hold it, so that the terminal outlives this process.
func (r *Runtime) handTerminal(dir string, console *os.File) error {
	master, err := utils.RecvFile(console)
	if err != nil {
		return fmt.Errorf("receiving the container's terminal: %w", err)
	}
	defer master.Close()
	if err := shim.SetTerminal(dir, master); err != nil {
		return fmt.Errorf("handing the terminal to the shim: %w", err)
	}
	return nil
}

// protectShim asks the OOM killer to spare the shim (its container is the one to kill); a host
// may refuse negative values even to root, which is logged once and remembered for containers.
func (r *Runtime) protectShim(pid int) {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid), []byte("-998"), 0); err != nil {
		r.negOOMDenied.Store(true)
		r.warn("host refuses negative oom_score_adj; shims and containers run with 0 instead", "err", err)
	}
}

// HostRefusals lists the settings this host refused, by setting, with what is done instead
// (the node agent records them on its Node).
func (r *Runtime) HostRefusals() map[string]string {
	if !r.negOOMDenied.Load() {
		return nil
	}
	return map[string]string{"oom_score_adj": "negative values are refused; shims and containers that should get one run with 0"}
}

func killPid(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}

// destroy removes libcontainer's container (cgroup, state) after killing what is left in it.
func (r *Runtime) destroy(id string) error {
	c, err := lc.Load(r.lcRoot, id)
	if err != nil {
		if errors.Is(err, lc.ErrNotExist) || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return c.Destroy()
}

// adopt loads the sandboxes and containers of the state dir and re-attaches to their shims.
func (r *Runtime) adopt() error {
	sbs, err := os.ReadDir(r.sandboxDir(""))
	if err != nil {
		return err
	}
	for _, e := range sbs {
		var rec sandboxRecord
		dir := r.sandboxDir(e.Name())
		if err := readJSON(filepath.Join(dir, "sandbox.json"), &rec); err != nil {
			r.log.Warn("skipping unreadable sandbox", "dir", dir, "err", err)
			continue
		}
		s := &sandbox{rec: rec, proc: &proc{id: rec.ID, dir: dir}}
		s.rec.hostnameFile = filepath.Join(dir, "hostname")
		if rec.Pid > 0 {
			s.proc.watch(rec.Pid)
		}
		r.sandboxes[rec.ID] = s
	}
	cs, err := os.ReadDir(r.containerDir(""))
	if err != nil {
		return err
	}
	for _, e := range cs {
		var rec containerRecord
		dir := r.containerDir(e.Name())
		if err := readJSON(filepath.Join(dir, "container.json"), &rec); err != nil {
			r.log.Warn("skipping unreadable container", "dir", dir, "err", err)
			continue
		}
		c := &container{rec: rec, proc: &proc{id: rec.ID, dir: dir}}
		if rec.Pid > 0 {
			c.proc.watch(rec.Pid)
		}
		r.containers[rec.ID] = c
	}
	return nil
}

func (r *Runtime) getSandbox(id string) (*sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sandboxes[id]
	if !ok {
		return nil, fmt.Errorf("sandbox %q: %w", id, runtime.ErrNotFound)
	}
	return s, nil
}

func (r *Runtime) getContainer(id string) (*container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	return c, nil
}

func (r *Runtime) containersOf(sandboxID string) []*container {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*container
	for _, c := range r.containers {
		if c.rec.SandboxID == sandboxID {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rec.CreatedAt.Before(out[j].rec.CreatedAt) })
	return out
}

func loadLC(r *Runtime, id string) (*lc.Container, error) { return lc.Load(r.lcRoot, id) }
