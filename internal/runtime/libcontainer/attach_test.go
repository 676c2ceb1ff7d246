package libcontainer

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/runtimetest"
)

// TestAttachTTY: a shell on a terminal gets typed input and the size of the client's terminal,
// and its output (the terminal's) is logged as stdout.
func TestAttachTTY(t *testing.T) {
	h := newHarness(t)
	r := h.new(t, t.TempDir())
	sb := h.pod(t, r, runtime.SandboxConfig{Name: "tty"})
	logPath := filepath.Join(t.TempDir(), "c.log")
	id := run(t, r, sb, &runtime.ContainerConfig{Name: "c", Command: []string{"sh"}, Stdin: true, StdinOnce: true, TTY: true, LogPath: logPath})
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	resize := make(chan runtime.TerminalSize, 1)
	resize <- runtime.TerminalSize{Width: 123, Height: 45}
	var out runtimetest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- r.Attach(context.Background(), id, &runtime.AttachRequest{Stdin: stdinR, Stdout: &out, TTY: true, Resize: resize})
	}()
	// The sleep lets the resize, sent alongside, arrive first.
	io.WriteString(stdinW, "sleep 0.3; tty; stty size; echo mark-$((6*7))\n")
	out.WaitFor(t, "mark-42\r\n", 15*time.Second)
	if s := out.String(); !strings.Contains(s, "/dev/pts/") || !strings.Contains(s, "45 123") {
		t.Errorf("terminal output %q", s)
	}
	anon, _ := statusKB(t, shimPid(t, r.(*Runtime).containerDir(id)))
	t.Logf("shim of a terminal container with an attach session: RssAnon %d kB", anon)
	if anon > 256 {
		t.Errorf("shim RssAnon %d kB", anon)
	}
	io.WriteString(stdinW, "exit 4\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the session did not end with the container")
	}
	if st := waitExited(t, r, id); st.ExitCode != 4 {
		t.Errorf("exit %+v", st)
	}
	found := false
	for _, l := range runtimetest.LogLines(t, logPath) {
		if l.Stream != "stdout" {
			t.Errorf("terminal output logged as %s", l.Stream)
		}
		found = found || strings.Contains(string(l.Content), "mark-42")
	}
	if !found {
		t.Errorf("the terminal's output is not in the log")
	}
}

// TestAttachListen: a container without stdin ignores the client's input (whose end detaches
// nothing) and its output after the attach arrives.
func TestAttachListen(t *testing.T) {
	h := newHarness(t)
	r := h.new(t, t.TempDir())
	sb := h.pod(t, r, runtime.SandboxConfig{Name: "listen"})
	id := run(t, r, sb, &runtime.ContainerConfig{Name: "c", Command: []string{"sh", "-c", "while true; do echo tick; sleep 0.05; done"}})
	var out runtimetest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Attach(ctx, id, &runtime.AttachRequest{Stdin: strings.NewReader(""), Stdout: &out})
	}()
	out.WaitFor(t, "tick\ntick\n", 15*time.Second)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("session: %v", err)
	}
}

// blockingWriter never returns from Write until released.
type blockingWriter struct {
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	<-w.release
	return len(p), nil
}

// TestAttachSlowClient: a client that takes nothing must not hold the container's logging up.
func TestAttachSlowClient(t *testing.T) {
	h := newHarness(t)
	r := h.new(t, t.TempDir())
	sb := h.pod(t, r, runtime.SandboxConfig{Name: "slow"})
	logPath := filepath.Join(t.TempDir(), "c.log")
	id := run(t, r, sb, &runtime.ContainerConfig{Name: "c", Command: []string{"sh", "-c", "read go; seq 1 200000; echo end"}, Stdin: true, LogPath: logPath})
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	defer close(w.release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	stdinR, stdinW := io.Pipe() // no EOF: that would detach
	defer stdinW.Close()
	go func() {
		done <- r.Attach(ctx, id, &runtime.AttachRequest{Stdin: stdinR, Stdout: w})
	}()
	io.WriteString(stdinW, "go\n")
	st := waitExited(t, r, id)
	if st.ExitCode != 0 {
		t.Fatalf("exit %+v", st)
	}
	lines := runtimetest.LogLines(t, logPath)
	if len(lines) != 200001 || string(lines[len(lines)-1].Content) != "end" {
		t.Fatalf("log has %d lines", len(lines))
	}
	select {
	case <-w.started:
	case <-time.After(5 * time.Second):
		t.Error("the client got no output")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Attach did not return after its context ended")
	}
}
