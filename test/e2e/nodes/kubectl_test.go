package nodes

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/testcluster"
)

const sleepScript = `trap 'exit 0' TERM; sleep 3600 & wait`

// TestKubectl drives real containers with the embedded kubectl, through the API server and the
// node agent's API of a `skiff kubelet` in its own host namespace.
func TestKubectl(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	nd := c.Nodes[0]
	ns := c.Namespace(t, "kubectl")
	c.CreatePod(t, ns, nd, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tools"}, Spec: v1.PodSpec{
		Containers: []v1.Container{c.Busybox("sh", sleepScript), c.Testserver("web"), c.Busybox("ticker", tickScript)}}})
	c.WaitRunning(t, ns, "tools")

	t.Run("Exec", func(t *testing.T) {
		r := c.Kubectl(t, "", "-n", ns, "exec", "tools", "-c", "sh", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		if r.Code != 3 || r.Stdout != "out\n" || !strings.Contains(r.Stderr, "err\n") {
			t.Errorf("exec: %s", r)
		}
		r = c.Kubectl(t, "", "-n", ns, "exec", "tools", "-c", "sh", "--", "hostname")
		if r.Code != 0 || r.Stdout != "tools\n" {
			t.Errorf("exec hostname: %s", r)
		}
	})

	t.Run("ExecStdin", func(t *testing.T) {
		r := c.Kubectl(t, "hello from stdin\nsecond line\n", "-n", ns, "exec", "-i", "tools", "-c", "sh", "--", "sh", "-c", "tr a-z A-Z; echo done")
		if r.Code != 0 || r.Stdout != "HELLO FROM STDIN\nSECOND LINE\ndone\n" {
			t.Errorf("exec -i: %s", r)
		}
	})

	t.Run("ExecTTY", func(t *testing.T) {
		out, code := execTTY(t, c, "printf 'tty=%s size=%s\\n' \"$(tty)\" \"$(stty size)\"; echo $((6*7)); exit 5\n",
			"-n", ns, "exec", "-it", "tools", "-c", "sh", "--", "sh")
		if code != 5 {
			t.Errorf("exec -it exit code %d, want 5; output:\n%s", code, out)
		}
		if !regexp.MustCompile(`tty=/dev/pts/\d+ size=40 100`).MatchString(out) || !strings.Contains(out, "\n42") {
			t.Errorf("exec -it output:\n%q", out)
		}
	})

	t.Run("Cp", func(t *testing.T) {
		dir := t.TempDir()
		local := filepath.Join(dir, "in.txt")
		content := "copied in " + time.Now().Format(time.RFC3339Nano) + "\n"
		if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := c.Kubectl(t, "", "-n", ns, "cp", "-c", "sh", local, "tools:/tmp/in.txt"); r.Code != 0 {
			t.Fatalf("cp in: %s", r)
		}
		if r := c.Kubectl(t, "", "-n", ns, "exec", "tools", "-c", "sh", "--", "cat", "/tmp/in.txt"); r.Stdout != content {
			t.Errorf("file copied in: %s", r)
		}
		if r := c.Kubectl(t, "", "-n", ns, "exec", "tools", "-c", "sh", "--", "sh", "-c", "mkdir -p /tmp/out/sub && echo made inside > /tmp/out/sub/f"); r.Code != 0 {
			t.Fatalf("exec: %s", r)
		}
		if r := c.Kubectl(t, "", "-n", ns, "cp", "-c", "sh", "tools:/tmp/out", filepath.Join(dir, "out")); r.Code != 0 {
			t.Fatalf("cp out: %s", r)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "out", "sub", "f")); err != nil || string(b) != "made inside\n" {
			t.Errorf("file copied out: %q %v", b, err)
		}
	})

	t.Run("LogsFollow", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := c.KubectlCmd(ctx, "-n", ns, "logs", "-f", "tools", "-c", "ticker")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cmd.Process.Kill()
		// Ticks printed after the command started must arrive while it runs.
		started := time.Now()
		first := -1
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			m := tickRE.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			var n int
			fmt.Sscan(m[1], &n)
			if first < 0 {
				first = lastTick(c.Logs(t, ns, "tools", "ticker"))
			}
			if n > first+5 {
				t.Logf("followed to tick %d (%d when it started) in %v", n, first, time.Since(started).Round(time.Millisecond))
				return
			}
		}
		t.Fatalf("logs -f ended without following (first %d): %v %s", first, sc.Err(), stderr.String())
	})

	t.Run("PortForward", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := c.KubectlCmd(ctx, "-n", ns, "port-forward", "pod/tools", ":8080")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cmd.Process.Kill()
		re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)
		sc := bufio.NewScanner(stdout)
		var port string
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				port = m[1]
				break
			}
		}
		if port == "" {
			t.Fatalf("port-forward printed no local port: %v %s", sc.Err(), stderr.String())
		}
		go io.Copy(io.Discard, stdout)
		for i := 0; i < 3; i++ { // several connections over one forward
			resp, err := http.Get("http://127.0.0.1:" + port + "/hostname")
			if err != nil {
				t.Fatalf("GET through the forward: %v (%s)", err, stderr.String())
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "tools" {
				t.Errorf("GET /hostname through the forward = %d %q", resp.StatusCode, b)
			}
		}
	})
}

// execTTY runs kubectl with a pseudo-terminal (40 rows, 100 columns) as its stdin, stdout and
// stderr, types input into it and returns everything the terminal showed and the exit code.
func execTTY(t *testing.T, c *testcluster.Cluster, input string, args ...string) (string, int) {
	t.Helper()
	master, slave := openPTY(t)
	defer master.Close()
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := c.KubectlCmd(ctx, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&out, master); close(copied) }() // ends with EIO once kubectl exits
	// The shell reads what is typed once the session is up; typing early is fine, the line
	// discipline buffers it.
	time.Sleep(500 * time.Millisecond)
	if _, err := master.Write([]byte(input)); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	<-copied
	code := 0
	if ee, ok := err.(interface{ ExitCode() int }); ok && err != nil {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kubectl: %v", err)
	}
	return out.String(), code
}

// openPTY opens a pseudo-terminal pair through /dev/ptmx.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, s
}
