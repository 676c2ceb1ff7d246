package shim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExecSpec is everything a process started by a shim in its container gets (exec.c applies it in
// this order: cgroups and namespaces of the init, setsid, rlimits, no_new_privs, seccomp, cwd,
// bounding set, groups, gid, uid, capabilities, ambient capabilities).
type ExecSpec struct {
	Args, Env []string // Env exactly; Args[0] is looked up in Env's PATH unless it holds a '/'
	Cwd       string
	UID, GID  uint32
	Groups    []uint32
	// NoNewPrivileges sets no_new_privs; the filter is then loaded just before execve, else
	// before the capabilities are dropped.
	NoNewPrivileges bool
	Caps            Caps
	Rlimits         []Rlimit
	// Seccomp is the filter, as the kernel takes it (struct sock_filter[]); nil for none. It is
	// loaded with seccomp(2) and SeccompFlags (SECCOMP_FILTER_FLAG_*), with prctl(2) without.
	Seccomp      []byte
	SeccompFlags uint
}

// Caps are capability sets as bit masks (bit n = capability n).
type Caps struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
}

// Rlimit is one resource limit (Type: RLIMIT_*).
type Rlimit struct {
	Type       int
	Soft, Hard uint64
}

var (
	// ErrExecUnsupported: this shim does not run execs (it predates them, or runs as many as it
	// takes); nothing was started, the caller can take another path.
	ErrExecUnsupported = errors.New("the shim does not run this exec")
	// ErrNotRunning: the container's init is not running (or not known to its shim yet).
	ErrNotRunning = errors.New("the container's init is not running")
)

// ExecStartError is a process that failed before its program ran.
type ExecStartError struct {
	Stage string // what failed: exec, cwd, user, caps, seccomp, setns, cgroup, ...
	Errno syscall.Errno
	Path  string // the program, for Stage "exec"
}

func (e *ExecStartError) Error() string {
	if e.Stage == "exec" && (e.Errno == unix.ENOENT || e.Errno == unix.EACCES) {
		return fmt.Sprintf("%q: executable file not found in $PATH: %v", e.Path, e.Errno)
	}
	return fmt.Sprintf("starting the process (%s): %v", e.Stage, e.Errno)
}

func (e *ExecStartError) Unwrap() error { return e.Errno }

// Exec is a process the shim started; Wait for it (or Kill it), then it is done.
type Exec struct {
	conn *net.UnixConn
	path string
}

const execMagic = "skiff-exec-1"

func (s *ExecSpec) encode() ([]byte, error) {
	if len(s.Args) == 0 {
		return nil, errors.New("exec: no command")
	}
	if len(s.Seccomp)%8 != 0 {
		return nil, errors.New("exec: malformed seccomp program")
	}
	var b bytes.Buffer
	str := func(v string) error {
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("exec: %q contains a NUL byte", v)
		}
		b.WriteString(v)
		b.WriteByte(0)
		return nil
	}
	num := func(v uint64) { str(strconv.FormatUint(v, 10)) }
	list := func(vs []string) error {
		num(uint64(len(vs)))
		for _, v := range vs {
			if err := str(v); err != nil {
				return err
			}
		}
		return nil
	}
	str(execMagic)
	num(uint64(s.UID))
	num(uint64(s.GID))
	num(uint64(len(s.Groups)))
	for _, g := range s.Groups {
		num(uint64(g))
	}
	if err := str(s.Cwd); err != nil {
		return nil, err
	}
	nnp := uint64(0)
	if s.NoNewPrivileges {
		nnp = 1
	}
	num(nnp)
	for _, c := range []uint64{s.Caps.Bounding, s.Caps.Effective, s.Caps.Permitted, s.Caps.Inheritable, s.Caps.Ambient} {
		num(c)
	}
	num(uint64(len(s.Rlimits)))
	for _, r := range s.Rlimits {
		num(uint64(r.Type))
		num(r.Soft)
		num(r.Hard)
	}
	if err := list(s.Args); err != nil {
		return nil, err
	}
	if err := list(s.Env); err != nil {
		return nil, err
	}
	num(uint64(s.SeccompFlags))
	num(uint64(len(s.Seccomp)))
	b.Write(s.Seccomp)
	return b.Bytes(), nil
}

// StartExec has the shim of dir start spec in its container with the given stdio (which the
// caller may close once this returns). It returns once the process exists (before its program
// runs: failures until then come from Wait, as an *ExecStartError).
func StartExec(dir string, spec *ExecSpec, stdin, stdout, stderr *os.File) (*Exec, error) {
	req, err := spec.encode()
	if err != nil {
		return nil, err
	}
	mfd, err := unix.MemfdCreate("skiff-exec", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(mfd)
	for off := 0; off < len(req); {
		n, err := unix.Write(mfd, req[off:])
		if err != nil {
			return nil, err
		}
		off += n
	}
	c, err := dial(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	rights := unix.UnixRights(int(stdin.Fd()), int(stdout.Fd()), int(stderr.Fd()), mfd)
	if _, _, err := c.WriteMsgUnix([]byte("X"), rights, nil); err != nil {
		return nil, err
	}
	// The answer comes once the helper has joined the container and forked: a few ms at most
	// unless the host is swamped.
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	msg, err := read(c)
	if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
		return nil, fmt.Errorf("%w: its shim is exiting", ErrNotRunning)
	}
	if err != nil {
		return nil, fmt.Errorf("exec: no answer from the shim: %w", err)
	}
	c.SetReadDeadline(time.Time{})
	switch {
	case msg == "s":
		ok = true
		return &Exec{conn: c, path: spec.Args[0]}, nil
	case msg == "n":
		return nil, ErrNotRunning
	case msg == "?" || msg == "b":
		return nil, ErrExecUnsupported
	default:
		return nil, parseFailure(msg, spec.Args[0])
	}
}

func read(c *net.UnixConn) (string, error) {
	buf := make([]byte, 128)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func parseFailure(msg, path string) error {
	f := strings.Fields(msg)
	if len(f) == 3 && f[0] == "e" {
		if n, err := strconv.Atoi(f[2]); err == nil {
			return &ExecStartError{Stage: f[1], Errno: syscall.Errno(n), Path: path}
		}
	}
	return fmt.Errorf("exec: unexpected answer from the shim: %q", msg)
}

// ExecExit is how an exec's process ended.
type ExecExit struct {
	Code   int // exit status, or 128+signal
	Signal int
}

// Wait waits for the process to end. When ctx ends first the process is killed, and Wait
// returns ctx's error once it is gone.
func (e *Exec) Wait(ctx context.Context) (*ExecExit, error) {
	defer e.conn.Close()
	type answer struct {
		msg string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		msg, err := read(e.conn)
		ch <- answer{msg, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-ctx.Done():
		e.conn.Write([]byte("K"))
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
		}
		return nil, ctx.Err()
	}
	if a.err != nil {
		return nil, fmt.Errorf("exec: lost the shim: %w", a.err)
	}
	f := strings.Fields(a.msg)
	if len(f) == 3 && f[0] == "x" {
		code, err1 := strconv.Atoi(f[1])
		sig, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil {
			return &ExecExit{Code: code, Signal: sig}, nil
		}
	}
	return nil, parseFailure(a.msg, e.path)
}
