package libcontainer

import (
	"context"
	"fmt"
	"time"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer/shim"
)

// Attach connects req's streams to the container's process through its shim, which holds the
// container's stdio: so a restarted agent attaches like the one that started the container.
func (r *Runtime) Attach(ctx context.Context, id string, req *runtime.AttachRequest) error {
	c, err := r.getContainer(id)
	if err != nil {
		return err
	}
	if st := r.containerStatus(c); st.State != runtime.ContainerRunning {
		return fmt.Errorf("container %s is not running: %w", id, runtime.ErrFailedPrecondition)
	}
	c.rmu.Lock()
	cfg := c.rec.Config
	c.rmu.Unlock()
	input := req.Stdin != nil && cfg.Stdin
	conn, err := shim.Attach(c.proc.dir, input)
	if err != nil {
		return fmt.Errorf("attaching to container %s: %w", id, err)
	}
	defer conn.Close()

	// Output until the shim hangs up, which it does once the container ended and all it wrote
	// was sent.
	outputDone := make(chan struct{})
	go func() {
		defer close(outputDone)
		for {
			stream, data, err := conn.Recv()
			if err != nil {
				return
			}
			w := req.Stdout
			if stream == shim.Stderr && !cfg.TTY {
				w = req.Stderr
			}
			if w != nil {
				w.Write(data) // a client that went away ends the session through ctx
			}
		}
	}()
	// The client's input ending detaches it, except that a StdinOnce container without a
	// terminal gets EOF instead and the session lasts until the container ends (upstream's rule).
	detached := make(chan struct{})
	if input {
		go func() {
			buf := make([]byte, shim.MaxInput)
			for {
				n, err := req.Stdin.Read(buf)
				if n > 0 && conn.Input(buf[:n]) != nil {
					return
				}
				if err != nil {
					if cfg.StdinOnce && !cfg.TTY {
						conn.CloseInput()
					} else {
						close(detached)
					}
					return
				}
			}
		}()
	}
	sessionDone := make(chan struct{})
	defer close(sessionDone)
	if cfg.TTY && req.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-req.Resize:
					if !ok {
						return
					}
					conn.Resize(sz.Width, sz.Height)
				case <-sessionDone:
					return
				}
			}
		}()
	}
	select {
	case <-outputDone:
		return nil
	case <-detached:
	case <-ctx.Done():
		err = ctx.Err()
	}
	conn.Close()
	// The caller closes its writers when this returns: no write may come after.
	select {
	case <-outputDone:
	case <-time.After(time.Second):
	}
	return err
}
