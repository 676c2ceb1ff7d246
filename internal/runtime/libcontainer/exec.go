package libcontainer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	lc "github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/utils"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/shim"
)

// maxExecOutput bounds what ExecSync keeps of each stream, as probes need little.
const maxExecOutput = 16 << 20

type limitedBuffer struct {
	bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxExecOutput - b.Len(); room < len(p) {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

func (r *Runtime) ReopenContainerLog(ctx context.Context, id string) error {
	c, err := r.getContainer(id)
	if err != nil {
		return err
	}
	if st := r.containerStatus(c); st.State != runtime.ContainerRunning {
		return fmt.Errorf("container %s is not running: %w", id, runtime.ErrFailedPrecondition)
	}
	return shim.ReopenLog(c.proc.dir)
}

func (r *Runtime) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (*runtime.ExecResult, error) {
	var stdout, stderr limitedBuffer
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	code, err := r.Exec(ctx, id, &runtime.ExecRequest{Cmd: cmd, Stdout: &stdout, Stderr: &stderr})
	res := &runtime.ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}
	if err != nil && timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
		res.TimedOut = true
		return res, nil
	}
	return res, err
}

// Exec runs a process in the container's namespaces and cgroup, as the container's user with its
// environment; it ends with ctx (killed). Without a tty the container's shim starts it (see
// doc.go); with one, or when the shim cannot apply the container's configuration, libcontainer.
func (r *Runtime) Exec(ctx context.Context, id string, req *runtime.ExecRequest) (int, error) {
	c, err := r.getContainer(id)
	if err != nil {
		return -1, err
	}
	if st := r.containerStatus(c); st.State != runtime.ContainerRunning {
		return -1, fmt.Errorf("container %s is not running: %w", id, runtime.ErrFailedPrecondition)
	}
	if len(req.Cmd) == 0 {
		return -1, errors.New("exec: no command")
	}
	c.rmu.Lock()
	rec := c.rec
	c.rmu.Unlock()
	if !req.TTY {
		if code, err, done := r.execViaShim(ctx, c, &rec, req); done {
			return code, err
		}
	}
	return r.execLibcontainer(ctx, &rec, req)
}

// execLibcontainer runs an exec through libcontainer: the binary re-executed as its setns init.
func (r *Runtime) execLibcontainer(ctx context.Context, rec *containerRecord, req *runtime.ExecRequest) (int, error) {
	lcc, err := lc.Load(r.lcRoot, rec.ID)
	if err != nil {
		return -1, err
	}
	p := &lc.Process{Args: req.Cmd, Env: rec.Env, Cwd: rec.Cwd, UID: rec.UID, GID: rec.GID, AdditionalGroups: rec.Groups}
	var console *os.File
	if req.TTY {
		parent, child, err := utils.NewSockPair("console")
		if err != nil {
			return -1, err
		}
		defer parent.Close()
		p.ConsoleSocket = child
		if err := lcc.Run(p); err != nil {
			child.Close()
			return -1, fmt.Errorf("exec: %w", err)
		}
		child.Close()
		if console, err = utils.RecvFile(parent); err != nil {
			p.Signal(unix.SIGKILL)
			p.Wait()
			return -1, err
		}
		defer console.Close()
	} else {
		p.Stdin, p.Stdout, p.Stderr = req.Stdin, req.Stdout, req.Stderr
		if err := lcc.Run(p); err != nil {
			return -1, fmt.Errorf("exec: %w", err)
		}
	}

	type result struct {
		ps  *os.ProcessState
		err error
	}
	waited := make(chan result, 1)
	copied := make(chan struct{})
	if console != nil {
		if req.Stdin != nil {
			go io.Copy(console, req.Stdin)
		}
		go func() {
			defer close(copied)
			if req.Stdout != nil {
				io.Copy(req.Stdout, console) // ends with EIO once the process is gone
			}
		}()
		if req.Resize != nil {
			execDone := make(chan struct{})
			defer close(execDone) // before the console closes (defers run last first)
			rc, err := console.SyscallConn()
			if err != nil {
				return -1, err
			}
			go func() {
				for {
					select {
					case sz, ok := <-req.Resize:
						if !ok {
							return
						}
						// Not console.Fd(): it would switch the console to blocking mode.
						rc.Control(func(fd uintptr) {
							unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: sz.Height, Col: sz.Width})
						})
					case <-execDone:
						return
					}
				}
			}()
		}
	} else {
		close(copied)
	}
	go func() {
		ps, err := p.Wait()
		waited <- result{ps, err}
	}()
	var res result
	select {
	case res = <-waited:
	case <-ctx.Done():
		p.Signal(unix.SIGKILL)
		<-waited
		return -1, ctx.Err()
	}
	if console != nil {
		select {
		case <-copied:
		case <-time.After(time.Second):
		}
	}
	if res.ps == nil {
		return -1, fmt.Errorf("exec: %w", res.err)
	}
	if ws, ok := res.ps.Sys().(unix.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return res.ps.ExitCode(), nil
}
