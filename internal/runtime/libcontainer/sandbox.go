package libcontainer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	lc "github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/shim"
)

// sandboxRecord is a sandbox's file (sandbox.json): what a restarted agent needs.
type sandboxRecord struct {
	runtime.SandboxConfig
	ID        string
	CreatedAt time.Time
	Pid       int

	hostnameFile string
}

type sandbox struct {
	mu   sync.Mutex // serialises lifecycle calls on this sandbox
	rec  sandboxRecord
	proc *proc
}

// RunPodSandbox starts the pod's pause process in new network, IPC and UTS namespaces (and PID,
// with ShareProcessNamespace), with a /dev/shm for the pod and the pod's hostname.
func (r *Runtime) RunPodSandbox(ctx context.Context, cfg *runtime.SandboxConfig) (string, error) {
	id := newID()
	dir := r.sandboxDir(id)
	s := &sandbox{rec: sandboxRecord{SandboxConfig: *cfg, ID: id, CreatedAt: time.Now()}, proc: &proc{id: id, dir: dir}}
	if s.rec.Hostname == "" {
		s.rec.Hostname = cfg.Name
	}
	s.rec.hostnameFile = filepath.Join(dir, "hostname")
	ok := false
	defer func() {
		if !ok {
			r.cleanupSandbox(s)
		}
	}()
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(s.rec.hostnameFile, []byte(s.rec.Hostname+"\n"), 0o644); err != nil {
		return "", err
	}
	if !cfg.HostIPC {
		shm := filepath.Join(dir, "shm")
		if err := os.Mkdir(shm, 0o755); err != nil {
			return "", err
		}
		if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
			return "", fmt.Errorf("mounting the sandbox's /dev/shm: %w", err)
		}
	}
	if err := writeJSON(filepath.Join(dir, "sandbox.json"), &s.rec); err != nil {
		return "", err
	}
	spec := pauseSpec(&s.rec, filepath.Join(dir, "rootfs"), cgroupPath(cfg.CgroupParent, id), r.exe)
	config, err := toConfig(id, spec)
	if err != nil {
		return "", err
	}
	pid, err := r.start(s.proc, config, &lc.Process{Args: []string{"/pause"}, Env: shim.PauseEnv, Cwd: "/"}, os.DevNull, shim.Stdio{})
	if err != nil {
		return "", fmt.Errorf("starting the sandbox's infra process: %w", err)
	}
	s.rec.Pid = pid
	if err := writeJSON(filepath.Join(dir, "sandbox.json"), &s.rec); err != nil {
		return "", err
	}
	r.mu.Lock()
	r.sandboxes[id] = s
	r.mu.Unlock()
	ok = true
	return id, nil
}

// StopPodSandbox kills the sandbox's containers, then its infra process.
func (r *Runtime) StopPodSandbox(ctx context.Context, id string) error {
	s, err := r.getSandbox(id)
	if err != nil {
		return err
	}
	for _, c := range r.containersOf(id) {
		if err := r.StopContainer(ctx, c.rec.ID, 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.stopProc(ctx, s.proc, s.rec.Pid, 2*time.Second)
}

// stopProc sends SIGTERM, then SIGKILL after grace, and waits for the end.
func (r *Runtime) stopProc(ctx context.Context, p *proc, pid int, grace time.Duration) error {
	if pid == 0 {
		return nil
	}
	if ended, _ := p.ended(); ended {
		return nil
	}
	c, err := lc.Load(r.lcRoot, p.id)
	if err != nil {
		return err
	}
	if grace > 0 {
		if err := c.Signal(unix.SIGTERM); err != nil && !errors.Is(err, lc.ErrNotRunning) {
			return err
		}
		if p.wait(ctx, grace) {
			return nil
		}
	}
	if err := c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, lc.ErrNotRunning) {
		return err
	}
	if !p.wait(context.Background(), 30*time.Second) {
		return fmt.Errorf("%s did not end after SIGKILL", p.id)
	}
	return nil
}

// RemovePodSandbox stops the sandbox and removes it with its containers.
func (r *Runtime) RemovePodSandbox(ctx context.Context, id string) error {
	s, err := r.getSandbox(id)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err := r.StopPodSandbox(ctx, id); err != nil {
		return err
	}
	for _, c := range r.containersOf(id) {
		if err := r.RemoveContainer(ctx, c.rec.ID); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := r.cleanupSandbox(s); err != nil {
		return err
	}
	r.mu.Lock()
	delete(r.sandboxes, id)
	r.mu.Unlock()
	return nil
}

// cleanupSandbox removes what RunPodSandbox made on the host, whatever point it reached.
func (r *Runtime) cleanupSandbox(s *sandbox) error {
	s.proc.unwatch()
	var errs []error
	if err := r.destroy(s.rec.ID); err != nil {
		errs = append(errs, err)
	}
	shm := filepath.Join(s.proc.dir, "shm")
	if err := unix.Unmount(shm, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmounting %s: %w", shm, err))
	}
	if s.rec.CgroupParent != "" {
		removeCgroup(s.rec.CgroupParent)
	}
	if len(errs) == 0 {
		errs = append(errs, os.RemoveAll(s.proc.dir))
	}
	return errors.Join(errs...)
}

func (r *Runtime) sandboxStatus(s *sandbox) *runtime.SandboxStatus {
	st := &runtime.SandboxStatus{
		ID: s.rec.ID, Name: s.rec.Name, Namespace: s.rec.Namespace, UID: s.rec.UID, Attempt: s.rec.Attempt,
		State: runtime.SandboxNotReady, CreatedAt: s.rec.CreatedAt, Hostname: s.rec.Hostname,
		CgroupParent: s.rec.CgroupParent, HostNetwork: s.rec.HostNetwork,
		Labels: s.rec.Labels, Annotations: s.rec.Annotations,
	}
	if ended, _ := s.proc.ended(); !ended && s.rec.Pid > 0 {
		st.State, st.Pid = runtime.SandboxReady, s.rec.Pid
		if !s.rec.HostNetwork {
			st.NetNSPath = fmt.Sprintf("/proc/%d/ns/net", s.rec.Pid)
		}
	}
	return st
}

func (r *Runtime) PodSandboxStatus(ctx context.Context, id string) (*runtime.SandboxStatus, error) {
	s, err := r.getSandbox(id)
	if err != nil {
		return nil, err
	}
	return r.sandboxStatus(s), nil
}

func (r *Runtime) ListPodSandbox(ctx context.Context, filter *runtime.SandboxFilter) ([]*runtime.SandboxStatus, error) {
	r.mu.Lock()
	list := make([]*sandbox, 0, len(r.sandboxes))
	for _, s := range r.sandboxes {
		list = append(list, s)
	}
	r.mu.Unlock()
	var out []*runtime.SandboxStatus
	for _, s := range list {
		if st := r.sandboxStatus(s); filter.Matches(st) {
			out = append(out, st)
		}
	}
	return out, nil
}

// nsPathsOf are the namespaces a container of s joins.
func (s *sandbox) nsPaths() nsPaths {
	p := func(ns string) string { return fmt.Sprintf("/proc/%d/ns/%s", s.rec.Pid, ns) }
	var n nsPaths
	if !s.rec.HostNetwork {
		n.net, n.uts = p("net"), p("uts")
	}
	if !s.rec.HostIPC {
		n.ipc = p("ipc")
	}
	if s.rec.ShareProcessNamespace && !s.rec.HostPID {
		n.pid = p("pid")
	}
	return n
}
