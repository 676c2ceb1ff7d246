package kubectl

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// watcher is a `kubectl get -w` running in the background, its lines collected as printed.
type watcher struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr strings.Builder
}

func startWatch(t *testing.T, args ...string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, skiffBin, append([]string{"kubectl", "--kubeconfig", server.Kubeconfig}, args...)...)
	cmd.Env = cleanEnv()
	w := &watcher{cmd: cmd, lines: make(chan string, 100)}
	cmd.Stderr = &w.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		close(w.lines)
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	return w
}

// next returns the next line printed, failing the test if none comes in time.
func (w *watcher) next(t *testing.T, what string) string {
	t.Helper()
	select {
	case l, ok := <-w.lines:
		if !ok {
			t.Fatalf("watch ended before %s; stderr: %s", what, w.stderr.String())
		}
		return l
	case <-time.After(15 * time.Second):
		t.Fatalf("no line for %s within 15s; stderr: %s", what, w.stderr.String())
	}
	return ""
}

// quiet checks that nothing more is printed for a while.
func (w *watcher) quiet(t *testing.T) {
	t.Helper()
	select {
	case l, ok := <-w.lines:
		if ok {
			t.Errorf("unexpected line %q", l)
		}
	case <-time.After(500 * time.Millisecond):
	}
}

func TestWatch(t *testing.T) {
	ns := namespace(t, "watch")
	// One configmap exists before the watch starts: it is listed first, under the header.
	ok(t, "create", "configmap", "before", "-n", ns, "--from-literal=a=1")
	plain := startWatch(t, "get", "cm", "-w", "-n", ns)
	events := startWatch(t, "get", "cm", "-w", "-n", ns, "--output-watch-events")

	checkCells := func(w *watcher, what string, want ...string) {
		t.Helper()
		l := w.next(t, what)
		got := strings.Fields(l)
		// The last cell is the age: only its form is checked.
		if len(got) != len(want)+1 || strings.Join(got[:len(want)], " ") != strings.Join(want, " ") || !strings.HasSuffix(got[len(want)], "s") {
			t.Errorf("%s: line %q, want fields %q and an age", what, l, want)
		}
	}
	if h := plain.next(t, "header"); strings.Join(strings.Fields(h), " ") != "NAME DATA AGE" {
		t.Errorf("header %q", h)
	}
	if h := events.next(t, "header"); strings.Join(strings.Fields(h), " ") != "EVENT NAME DATA AGE" {
		t.Errorf("header with events %q", h)
	}
	checkCells(plain, "initial list", "before", "1")
	checkCells(events, "initial list", "ADDED", "before", "1")

	ok(t, "create", "configmap", "w1", "-n", ns, "--from-literal=a=1")
	checkCells(plain, "create", "w1", "1")
	checkCells(events, "create", "ADDED", "w1", "1")
	ok(t, "patch", "-n", ns, "cm/w1", "--type=merge", "-p", `{"data":{"b":"2"}}`)
	checkCells(plain, "patch", "w1", "2")
	checkCells(events, "patch", "MODIFIED", "w1", "2")
	ok(t, "delete", "-n", ns, "cm/w1")
	checkCells(plain, "delete", "w1", "2")
	checkCells(events, "delete", "DELETED", "w1", "2")
	// The header is printed once, and nothing else came.
	plain.quiet(t)
	events.quiet(t)
}
