package libcontainer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
	lc "github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/initseccomp"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/shim"
)

// execProfile is what every exec in a container gets, worked out once per container init from
// libcontainer's configuration of it (state.json), exactly as libcontainer's setns init would
// apply it: the shim then starts execs without libcontainer (see doc.go).
type execProfile struct {
	pid  int           // the init it was made for
	spec shim.ExecSpec // without Args
	// why the shim cannot apply this container's configuration; execs then take libcontainer's
	// path.
	why string
}

// execProfile returns c's profile for rec's init, building it on first use.
func (r *Runtime) execProfile(c *container, rec *containerRecord) *execProfile {
	c.xmu.Lock()
	defer c.xmu.Unlock()
	if c.xp == nil || c.xp.pid != rec.Pid {
		c.xp = r.buildExecProfile(rec)
	}
	return c.xp
}

func (r *Runtime) buildExecProfile(rec *containerRecord) *execProfile {
	xp := &execProfile{pid: rec.Pid}
	lcc, err := lc.Load(r.lcRoot, rec.ID)
	if err != nil {
		xp.why = err.Error()
		return xp
	}
	cfg := lcc.Config()
	if xp.why = unsupported(&cfg); xp.why != "" {
		return xp
	}
	s := &xp.spec
	s.Cwd = rec.Cwd
	s.UID, s.GID = uint32(rec.UID), uint32(rec.GID)
	for _, g := range rec.Groups {
		s.Groups = append(s.Groups, uint32(g))
	}
	s.NoNewPrivileges = cfg.NoNewPrivileges
	if c := cfg.Capabilities; c != nil {
		s.Caps = shim.Caps{Bounding: capMask(c.Bounding), Effective: capMask(c.Effective),
			Permitted: capMask(c.Permitted), Inheritable: capMask(c.Inheritable), Ambient: capMask(c.Ambient)}
	}
	for _, l := range cfg.Rlimits {
		s.Rlimits = append(s.Rlimits, shim.Rlimit{Type: l.Type, Soft: l.Soft, Hard: l.Hard})
	}
	if cfg.Seccomp != nil {
		p, err := r.seccompProgram(cfg.Seccomp)
		if err != nil {
			xp.why = "seccomp: " + err.Error()
			return xp
		}
		s.Seccomp, s.SeccompFlags = p.Filter, p.Flags
	}
	if s.Env, err = execEnv(rec.Env, func() string { return homeOf(rec.Pid, rec.UID) }); err != nil {
		xp.why = err.Error()
	}
	return xp
}

// unsupported names what of cfg the shim's exec does not apply (libcontainer's exec does), or "".
func unsupported(cfg *configs.Config) string {
	switch {
	case cfg.Namespaces.Contains(configs.NEWUSER), cfg.Namespaces.Contains(configs.NEWTIME), len(cfg.TimeOffsets) > 0:
		return "user or time namespace"
	case cfg.RootlessEUID:
		return "rootless container"
	case cfg.Umask != nil:
		return "umask"
	case cfg.AppArmorProfile != "" || cfg.ProcessLabel != "":
		return "AppArmor or SELinux label"
	case cfg.Scheduler != nil || cfg.IOPriority != nil || cfg.ExecCPUAffinity != nil || cfg.MemoryPolicy != nil:
		return "scheduler, I/O priority, CPU affinity or memory policy"
	case cfg.Personality != nil:
		return "personality"
	case !cfg.NoNewKeyring:
		return "session keyring"
	}
	return ""
}

var capBits = sync.OnceValue(func() map[string]uint {
	m := map[string]uint{}
	list, _ := capability.ListSupported()
	for _, c := range list {
		m["CAP_"+strings.ToUpper(c.String())] = uint(c)
	}
	return m
})

// capMask: names the kernel does not know are left out, as libcontainer does.
func capMask(names []string) uint64 {
	var m uint64
	for _, n := range names {
		if b, ok := capBits()[n]; ok && b < 64 {
			m |= 1 << b
		}
	}
	return m
}

// seccompProgram compiles a profile once per runtime: most containers share a handful. The same
// program serves the shims' execs and the containers' inits (initseccomp).
func (r *Runtime) seccompProgram(cfg *configs.Seccomp) (*initseccomp.Program, error) {
	key, err := initseccomp.Key(cfg)
	if err != nil {
		return nil, err
	}
	r.bpfMu.Lock()
	defer r.bpfMu.Unlock()
	if p, ok := r.bpf[key]; ok {
		return p, nil
	}
	prog, flags, err := compileSeccomp(cfg)
	if err != nil {
		return nil, err
	}
	if len(r.bpf) >= 64 {
		clear(r.bpf) // bounded; the next containers compile again
	}
	p := &initseccomp.Program{Key: key, Flags: flags, Filter: prog}
	r.bpf[key] = p
	return p, nil
}

// execEnv is the environment of an exec as libcontainer makes it: the last of each name kept (in
// the order of those), an empty HOME dropped, and a missing HOME taken from the container's
// /etc/passwd ("/" without an entry).
func execEnv(env []string, home func() string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	hasHome := false
	for i := len(env) - 1; i >= 0; i-- {
		kv := env[i]
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("invalid environment variable %q: missing '='", kv)
		case k == "":
			return nil, fmt.Errorf("invalid environment variable %q: empty name", kv)
		case strings.IndexByte(kv, 0) >= 0:
			return nil, fmt.Errorf("invalid environment variable %q: contains a NUL byte", k)
		case seen[k]:
			continue
		}
		seen[k] = true
		if k == "HOME" {
			if v == "" {
				continue
			}
			hasHome = true
		}
		out = append(out, kv)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if !hasHome {
		out = append(out, "HOME="+home())
	}
	return out, nil
}

// homeOf reads uid's home from the /etc/passwd the container's init sees. Resolved inside the
// container's root: a symlink there must not lead to a host file.
func homeOf(pid, uid int) string {
	root, err := os.Open(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return "/"
	}
	defer root.Close()
	fd, err := unix.Openat2(int(root.Fd()), "etc/passwd", &unix.OpenHow{
		Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return "/"
	}
	f := os.NewFile(uintptr(fd), "passwd")
	defer f.Close()
	return passwdHome(f, uid)
}

// passwdHome is the home of the first entry for uid in an /etc/passwd, "/" without one.
func passwdHome(r io.Reader, uid int) string {
	sc := bufio.NewScanner(io.LimitReader(r, 4<<20))
	want := strconv.Itoa(uid)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 6 && strings.TrimSpace(f[2]) == want {
			return f[5]
		}
	}
	return "/"
}

// execViaShim runs a non-tty exec through the container's shim. done is false when it could not
// (nothing was started): the caller then takes libcontainer's path.
func (r *Runtime) execViaShim(ctx context.Context, c *container, rec *containerRecord, req *runtime.ExecRequest) (code int, err error, done bool) {
	xp := r.execProfile(c, rec)
	if xp.why != "" {
		r.warn("execs in this container go through libcontainer: the shim does not apply its configuration", "container", rec.ID, "reason", xp.why)
		return 0, nil, false
	}
	spec := xp.spec
	spec.Args = req.Cmd

	var (
		passed []*os.File // the process's ends, closed here once the shim has them
		ours   []*os.File // the ends read or written here
		copies sync.WaitGroup
	)
	defer func() {
		for _, f := range passed {
			f.Close()
		}
	}()
	closeOurs := func() {
		for _, f := range ours {
			f.Close()
		}
	}
	devNull := func(flag int) (*os.File, error) {
		f, err := os.OpenFile(os.DevNull, flag, 0)
		if err == nil {
			passed = append(passed, f)
		}
		return f, err
	}
	var stdinW *os.File
	stdin, _ := req.Stdin.(*os.File)
	switch {
	case stdin != nil:
	case req.Stdin == nil:
		if stdin, err = devNull(os.O_RDONLY); err != nil {
			return -1, err, true
		}
	default:
		pr, pw, err := os.Pipe()
		if err != nil {
			return -1, err, true
		}
		passed, ours, stdin, stdinW = append(passed, pr), append(ours, pw), pr, pw
	}
	var readers []struct {
		r *os.File
		w io.Writer
	}
	output := func(w io.Writer) (*os.File, error) {
		if f, ok := w.(*os.File); ok {
			return f, nil
		}
		if w == nil {
			return devNull(os.O_WRONLY)
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		passed, ours = append(passed, pw), append(ours, pr)
		readers = append(readers, struct {
			r *os.File
			w io.Writer
		}{pr, w})
		return pw, nil
	}
	stdout, err := output(req.Stdout)
	if err != nil {
		closeOurs()
		return -1, err, true
	}
	stderr, err := output(req.Stderr)
	if err != nil {
		closeOurs()
		return -1, err, true
	}

	e, err := shim.StartExec(c.proc.dir, &spec, stdin, stdout, stderr)
	if err != nil {
		closeOurs()
		switch {
		case errors.Is(err, shim.ErrExecUnsupported):
			return 0, nil, false
		case errors.Is(err, shim.ErrNotRunning):
			return -1, fmt.Errorf("container %s is not running: %w", rec.ID, runtime.ErrFailedPrecondition), true
		}
		return -1, fmt.Errorf("exec: %w", err), true
	}
	for _, f := range passed {
		f.Close()
	}
	passed = nil
	if stdinW != nil {
		go func() {
			io.Copy(stdinW, req.Stdin)
			stdinW.Close()
		}()
	}
	for _, rd := range readers {
		copies.Add(1)
		go func() {
			defer copies.Done()
			io.Copy(rd.w, rd.r)
		}()
	}
	copied := make(chan struct{})
	go func() {
		copies.Wait()
		close(copied)
	}()
	finish := func() {
		// The stdin copier may be blocked reading the caller's stream: closing its pipe ends it at
		// its next write; the output copiers end with their pipes.
		closeOurs()
		<-copied
	}

	ex, err := e.Wait(ctx)
	if err != nil {
		finish()
		if errors.Is(err, ctx.Err()) {
			return -1, err, true
		}
		return -1, fmt.Errorf("exec: %w", err), true
	}
	// What the process wrote is in the pipes; wait for EOF (a background child of it may hold
	// them open: then until ctx ends).
	select {
	case <-copied:
	case <-ctx.Done():
	}
	finish()
	return ex.Code, nil, true
}
