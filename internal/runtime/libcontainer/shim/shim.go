package shim

/*
#cgo CFLAGS: -O2 -Wall
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // nsexec: the C half of "init"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/initseccomp"
)

func init() {
	// libcontainer re-executes this binary as "<argv0> init" to become a container's init. Doing
	// it here, during package initialisation and before the packages of the rest of the binary
	// initialise (Go runs package inits in import-path order as dependencies allow), spares every
	// container start and every exec the start-up of the whole binary.
	if len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv("_LIBCONTAINER_INITPIPE") != "" {
		initseccomp.Install()
		libcontainer.Init()
	}
}

// Names of the files a shim keeps in its container's directory.
const (
	SockName = "shim.sock"
	ExitName = "exit"
)

// PauseEnv is the environment that turns the skiff binary into the sandbox's pause process.
var PauseEnv = []string{"_SKIFF_PAUSE=1"}

// Handle is a freshly started shim: the write ends of the container's stdout and stderr, to give
// to the container's init and then close.
type Handle struct {
	Pid            int
	Stdout, Stderr *os.File
	// Stdin is the read end of the container's input pipe (Stdio.Stdin without a TTY), nil
	// otherwise.
	Stdin *os.File
}

// Close releases the agent's copies of the pipes' ends.
func (h *Handle) Close() {
	h.Stdout.Close()
	h.Stderr.Close()
	if h.Stdin != nil {
		h.Stdin.Close()
	}
}

// Stdio is what a container's shim holds besides its output pipes.
type Stdio struct {
	// Stdin: the shim holds the write end of the container's input pipe (or, with TTY, writes
	// to its terminal), for attached clients.
	Stdin bool
	// StdinOnce: the input pipe closes when the first attach session that wrote to it ends.
	StdinOnce bool
	// TTY: the container runs on a terminal whose master the agent hands over with SetTerminal.
	TTY bool
}

func (s Stdio) flags() string {
	f := "-"
	if s.Stdin {
		f += "i"
	}
	if s.StdinOnce {
		f += "o"
	}
	if s.TTY {
		f += "t"
	}
	return f
}

// Start starts the shim of the container whose directory is dir (its rootfs must be dir/rootfs:
// that is how libcontainer's init finds the shim to hand itself to). Output goes to logPath.
func Start(dir, logPath string) (*Handle, error) { return StartIO(dir, logPath, Stdio{}) }

// StartIO is Start for a container with an input or a terminal (see Stdio).
func StartIO(dir, logPath string, stdio Stdio) (*Handle, error) {
	os.Remove(filepath.Join(dir, SockName))
	os.Remove(filepath.Join(dir, ExitName))
	var l *net.UnixListener
	err := viaDir(dir, func(sock string) (err error) {
		l, err = net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
		return err
	})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	lf, err := l.File()
	l.Close()
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	defer outR.Close()
	defer errR.Close()
	files := []*os.File{outR, errR, lf}
	var inR, inW *os.File
	if stdio.Stdin && !stdio.TTY {
		if inR, inW, err = os.Pipe(); err != nil {
			outW.Close()
			errW.Close()
			return nil, err
		}
		defer inW.Close() // the shim holds the write end, never the agent
		files = append(files, inW)
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"skiff-shim", dir, logPath, stdio.flags()},
		Env:         []string{"_SKIFF_SHIM=1"},
		ExtraFiles:  files,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		outW.Close()
		errW.Close()
		if inR != nil {
			inR.Close()
		}
		return nil, fmt.Errorf("starting shim: %w", err)
	}
	// The shim outlives this process when the agent restarts; while both live, reap it here.
	go cmd.Wait()
	return &Handle{Pid: cmd.Process.Pid, Stdout: outW, Stderr: errW, Stdin: inR}, nil
}

// viaDir calls fn with a short name of dir's socket: socket paths are limited to 108 bytes, and
// state directories may be deeper than that.
func viaDir(dir string, fn func(sock string) error) error {
	d, err := os.OpenFile(dir, os.O_RDONLY|unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), SockName))
}

func dial(dir string) (c *net.UnixConn, err error) {
	err = viaDir(dir, func(sock string) (err error) {
		c, err = net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: sock, Net: "unixpacket"})
		return err
	})
	return c, err
}

func request(dir, msg string) error {
	c, err := dial(dir)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "ok" {
		return fmt.Errorf("shim answered %q to %q", buf[:n], msg)
	}
	return nil
}

// SetMainPid tells the shim which of its children is the container's init. Idempotent: a
// restarted agent says it again when it adopts the container.
func SetMainPid(dir string, pid int) error { return request(dir, "P "+strconv.Itoa(pid)) }

// ReopenLog makes the shim reopen the log path (after a rotation renamed the file).
func ReopenLog(dir string) error { return request(dir, "R") }

// Watch returns a channel closed when the shim of dir has exited (after writing the exit file),
// and a function that stops watching. It fails when no shim answers (it is gone already).
func Watch(dir string) (<-chan struct{}, func(), error) {
	c, err := dial(dir)
	if err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	return done, func() { c.Close() }, nil
}

// Exit is how a container's init ended, as its shim recorded it.
type Exit struct {
	Code       int // exit status, or 128+signal
	Signal     int
	FinishedAt time.Time
}

// ReadExit reads dir's exit file; os.ErrNotExist when the container has not ended (or its shim
// died without saying).
func ReadExit(dir string) (*Exit, error) {
	b, err := os.ReadFile(filepath.Join(dir, ExitName))
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(bytes.TrimSpace(b)))
	if len(f) != 3 {
		return nil, errors.New("malformed exit file")
	}
	code, err1 := strconv.Atoi(f[0])
	sig, err2 := strconv.Atoi(f[1])
	ns, err3 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("malformed exit file: %w", err)
	}
	return &Exit{Code: code, Signal: sig, FinishedAt: time.Unix(0, ns)}, nil
}
