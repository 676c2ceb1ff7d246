package libcontainer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lc "github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/initseccomp"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/shim"
)

// containerRecord is a container's file (container.json): what a restarted agent needs.
type containerRecord struct {
	ID, SandboxID string
	Config        runtime.ContainerConfig
	ImageRef      string
	// The resolved process.
	Args, Env []string
	Cwd       string
	UID, GID  int
	Groups    []int

	CreatedAt, StartedAt time.Time
	Pid                  int
	StartError           string
}

type container struct {
	mu   sync.Mutex // serialises lifecycle calls on this container
	rmu  sync.Mutex // guards rec, so that status never waits for a lifecycle call
	rec  containerRecord
	proc *proc

	xmu sync.Mutex
	xp  *execProfile // built on the first exec
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// CreateContainer mounts the container's rootfs (overlayfs over the image's layers) and records
// its resolved process; nothing runs until StartContainer.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg *runtime.ContainerConfig) (string, error) {
	s, err := r.getSandbox(sandboxID)
	if err != nil {
		return "", err
	}
	if st := r.sandboxStatus(s); st.State != runtime.SandboxReady {
		return "", fmt.Errorf("sandbox %s is not ready: %w", sandboxID, runtime.ErrFailedPrecondition)
	}
	for _, c := range r.containersOf(sandboxID) {
		if c.rec.Config.Name == cfg.Name && c.rec.Config.Attempt == cfg.Attempt {
			return "", fmt.Errorf("container %s attempt %d in sandbox %s: %w", cfg.Name, cfg.Attempt, sandboxID, runtime.ErrAlreadyExists)
		}
	}
	if r.cfg.Images == nil {
		return "", errors.New("runtime has no image source")
	}
	lowers, img, err := r.cfg.Images.Mounts(cfg.Image)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", cfg.Image, err)
	}
	rec := containerRecord{ID: newID(), SandboxID: sandboxID, Config: *cfg, ImageRef: img.ID, CreatedAt: time.Now()}
	rec.Args = runtime.ResolveArgs(cfg.Command, cfg.Args, img)
	if len(rec.Args) == 0 {
		return "", fmt.Errorf("container %s: no command given and none in image %s", cfg.Name, cfg.Image)
	}
	env := runtime.MergeEnv(img.Env, nil)
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		env = append([]string{defaultPath}, env...)
	}
	env = runtime.MergeEnv(env, []string{"HOSTNAME=" + s.rec.Hostname})
	rec.Env = runtime.MergeEnv(env, cfg.Env)
	rec.Cwd = firstNonEmpty(cfg.WorkingDir, img.WorkingDir, "/")
	user := cfg.User
	if user == nil {
		if user, err = runtime.ParseImageUser(img.User); err != nil {
			return "", err
		}
	}
	if user != nil {
		rec.UID, rec.GID = int(user.UID), int(user.GID)
		for _, g := range user.AdditionalGIDs {
			rec.Groups = append(rec.Groups, int(g))
		}
	}

	dir := r.containerDir(rec.ID)
	c := &container{rec: rec, proc: &proc{id: rec.ID, dir: dir}}
	ok := false
	defer func() {
		if !ok {
			r.cleanupContainer(c)
		}
	}()
	for _, d := range []string{"rootfs", "upper", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return "", err
		}
	}
	if err := mountOverlay(lowers, dir); err != nil {
		return "", err
	}
	if err := writeJSON(filepath.Join(dir, "container.json"), &c.rec); err != nil {
		return "", err
	}
	r.mu.Lock()
	r.containers[rec.ID] = c
	r.mu.Unlock()
	ok = true
	return rec.ID, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// mountOverlay mounts dir/rootfs: the image's layers (uppermost first in lowers) under the
// container's own upper layer.
func mountOverlay(lowers []string, dir string) error {
	if len(lowers) == 0 {
		return errors.New("image has no layers")
	}
	// The merged root takes the upper dir's mode and owner: give it the image's.
	var st unix.Stat_t
	if err := unix.Stat(lowers[0], &st); err != nil {
		return fmt.Errorf("image layer: %w", err)
	}
	upper := filepath.Join(dir, "upper")
	if err := unix.Chmod(upper, st.Mode&0o7777); err != nil {
		return err
	}
	if err := os.Lchown(upper, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"),
		filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", filepath.Join(dir, "rootfs"), "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting rootfs: %w", err)
	}
	return nil
}

// StartContainer runs the container's process in its sandbox's namespaces, under a shim.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	c, err := r.getContainer(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.rec.StartedAt.IsZero() {
		return fmt.Errorf("container %s was started already: %w", id, runtime.ErrFailedPrecondition)
	}
	s, err := r.getSandbox(c.rec.SandboxID)
	if err != nil {
		return err
	}
	if st := r.sandboxStatus(s); st.State != runtime.SandboxReady {
		return fmt.Errorf("sandbox %s is not ready: %w", s.rec.ID, runtime.ErrFailedPrecondition)
	}
	config, err := r.containerConfig(c, s)
	if err != nil {
		return err
	}
	if config.Seccomp != nil {
		// The init loads the program compiled here, once per profile, instead of compiling the
		// profile with libseccomp in every container (initseccomp). Without the file, it does.
		if p, err := r.seccompProgram(config.Seccomp); err != nil {
			r.warn("seccomp profile not precompiled: containers' inits compile it", "container", id, "err", err)
		} else if err := initseccomp.Write(c.proc.dir, p); err != nil {
			return fmt.Errorf("writing the init's seccomp program: %w", err)
		}
	}
	return r.runContainer(c, config)
}

// containerConfig is libcontainer's configuration of c in sandbox s.
func (r *Runtime) containerConfig(c *container, s *sandbox) (*configs.Config, error) {
	shm := ""
	if !s.rec.HostIPC {
		shm = filepath.Join(s.proc.dir, "shm")
	}
	spec := containerSpec(&c.rec.Config, filepath.Join(c.proc.dir, "rootfs"), cgroupPath(s.rec.CgroupParent, c.rec.ID), shm, s.nsPaths(), &s.rec, seccomp.Enabled)
	return toConfig(c.rec.ID, spec)
}

// runContainer starts c's process under config and records the outcome.
func (r *Runtime) runContainer(c *container, config *configs.Config) error {
	cfg := &c.rec.Config
	process := &lc.Process{Args: c.rec.Args, Env: c.rec.Env, Cwd: c.rec.Cwd, UID: c.rec.UID, GID: c.rec.GID, AdditionalGroups: c.rec.Groups}
	logPath := cfg.LogPath
	if logPath == "" {
		logPath = os.DevNull
	}
	started := time.Now()
	pid, err := r.start(c.proc, config, process, logPath, shim.Stdio{Stdin: cfg.Stdin, StdinOnce: cfg.StdinOnce, TTY: cfg.TTY})
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rec.StartedAt = started
	if err != nil {
		// Recorded as a container that ended at once, as upstream reports a failed start.
		c.rec.StartError = err.Error()
		writeJSON(filepath.Join(c.proc.dir, "container.json"), &c.rec)
		return err
	}
	c.rec.Pid = pid
	return writeJSON(filepath.Join(c.proc.dir, "container.json"), &c.rec)
}

// StopContainer: SIGTERM, then SIGKILL after timeout.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	c, err := r.getContainer(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return r.stopProc(ctx, c.proc, c.rec.Pid, timeout)
}

// RemoveContainer kills the container if needed and removes its cgroup, rootfs and state.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	c, err := r.getContainer(id)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := r.stopProc(ctx, c.proc, c.rec.Pid, 0); err != nil {
		return err
	}
	if err := r.cleanupContainer(c); err != nil {
		return err
	}
	r.mu.Lock()
	delete(r.containers, id)
	r.mu.Unlock()
	return nil
}

func (r *Runtime) cleanupContainer(c *container) error {
	c.proc.unwatch()
	var errs []error
	if err := r.destroy(c.rec.ID); err != nil {
		errs = append(errs, err)
	}
	rootfs := filepath.Join(c.proc.dir, "rootfs")
	if err := unix.Unmount(rootfs, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmounting %s: %w", rootfs, err))
	}
	if len(errs) == 0 {
		errs = append(errs, os.RemoveAll(c.proc.dir))
	}
	return errors.Join(errs...)
}

func (r *Runtime) containerStatus(c *container) *runtime.ContainerStatus {
	c.rmu.Lock()
	rec := c.rec
	c.rmu.Unlock()
	st := &runtime.ContainerStatus{
		ID: rec.ID, SandboxID: rec.SandboxID, Name: rec.Config.Name, Attempt: rec.Config.Attempt,
		Image: rec.Config.Image, ImageRef: rec.ImageRef, CreatedAt: rec.CreatedAt, StartedAt: rec.StartedAt,
		LogPath: rec.Config.LogPath, Labels: rec.Config.Labels, Annotations: rec.Config.Annotations,
		State: runtime.ContainerCreated,
	}
	switch {
	case rec.StartError != "":
		st.State, st.ExitCode, st.Reason, st.Message = runtime.ContainerExited, 128, runtime.ReasonError, rec.StartError
		st.FinishedAt = rec.StartedAt
	case rec.Pid == 0:
		st.StartedAt = time.Time{}
	default:
		ended, ex := c.proc.ended()
		if !ended {
			st.State, st.Pid = runtime.ContainerRunning, rec.Pid
			break
		}
		st.State = runtime.ContainerExited
		if ex == nil {
			st.State, st.ExitCode, st.Reason = runtime.ContainerUnknown, 255, "ContainerStatusUnknown"
			st.Message = "the container's shim ended without recording how the container ended"
			break
		}
		st.ExitCode, st.FinishedAt = ex.Code, ex.FinishedAt
		st.Reason = runtime.ExitReason(ex.Code, r.oomKilled(rec.ID))
	}
	return st
}

// oomKilled reads the container's memory cgroup for an OOM kill (cgroup v1 memory.oom_control,
// v2 memory.events).
func (r *Runtime) oomKilled(id string) bool {
	c, err := lc.Load(r.lcRoot, id)
	if err != nil {
		return false
	}
	st, err := c.State()
	if err != nil {
		return false
	}
	for key, file := range map[string]string{"memory": "memory.oom_control", "": "memory.events"} {
		p, ok := st.CgroupPaths[key]
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p, file))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				if n, _ := strconv.Atoi(strings.TrimSpace(v)); n > 0 {
					return true
				}
			}
		}
	}
	return false
}

func (r *Runtime) ContainerStatus(ctx context.Context, id string) (*runtime.ContainerStatus, error) {
	c, err := r.getContainer(id)
	if err != nil {
		return nil, err
	}
	return r.containerStatus(c), nil
}

func (r *Runtime) ListContainers(ctx context.Context, filter *runtime.ContainerFilter) ([]*runtime.ContainerStatus, error) {
	r.mu.Lock()
	list := make([]*container, 0, len(r.containers))
	for _, c := range r.containers {
		list = append(list, c)
	}
	r.mu.Unlock()
	var out []*runtime.ContainerStatus
	for _, c := range list {
		if st := r.containerStatus(c); filter.Matches(st) {
			out = append(out, st)
		}
	}
	return out, nil
}
