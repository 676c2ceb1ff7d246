package bench

import (
	"bytes"
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/testserver"
)

var skiffBin string

func TestMain(m *testing.M) {
	// The benchmarks need the binary; plain `go test ./...` runs no benchmark and builds nothing.
	if !benchRequested() {
		os.Exit(m.Run())
	}
	bin, err := testserver.Binary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "building skiff:", err)
		os.Exit(1)
	}
	skiffBin = bin
	code := m.Run()
	testserver.RemoveBinary()
	os.Exit(code)
}

func benchRequested() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.bench") {
			return true
		}
	}
	return false
}

// server is a `skiff server` process.
type server struct {
	cmd        *exec.Cmd
	dataDir    string
	kubeconfig string
}

func freePort(b testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer runs `skiff server` without a node agent or cluster DNS (extra flags may turn it on).
func startServer(b testing.TB, extra ...string) *server {
	b.Helper()
	dir, err := os.MkdirTemp("", "skb-")
	if err != nil {
		b.Fatal(err)
	}
	port := freePort(b)
	cmd := exec.Command(skiffBin, "server", "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(port), "--log-level", "warn", "--disable-agent")
	if len(extra) == 0 {
		cmd.Args = append(cmd.Args, "--disable-cluster-dns")
	}
	cmd.Args = append(cmd.Args, extra...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &server{cmd: cmd, dataDir: dir, kubeconfig: filepath.Join(dir, "admin.kubeconfig")}
	b.Cleanup(s.stop)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(s.kubeconfig); err == nil {
			cs := s.client(b)
			if _, err := cs.Discovery().ServerVersion(); err == nil {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatal("skiff server did not become ready")
	return nil
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(s.dataDir)
}

// restConfig returns a config with its own connection (a custom Dial defeats client-go's
// transport cache), so that each benchmark client is a separate client as in upstream's figures.
func (s *server) restConfig(b testing.TB) *rest.Config {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	cfg.Dial = d.DialContext
	return cfg
}

func (s *server) client(b testing.TB) kubernetes.Interface {
	cs, err := kubernetes.NewForConfig(s.restConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// memory reads a process's anonymous and total resident memory in bytes.
func memory(pid int) (rssAnon, rss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		line := sc.Text()
		if strings.HasPrefix(line, "RssAnon:") {
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "RssAnon:")), "%d", &kb)
			rssAnon = kb << 10
		}
		if strings.HasPrefix(line, "VmRSS:") {
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb)
			rss = kb << 10
		}
	}
	return rssAnon, rss
}

// pidCPU is a process's user+system CPU time so far, from /proc/<pid>/stat (clock ticks of 10 ms).
func pidCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields are counted after its closing parenthesis, where
	// utime and stime are the 12th and 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscanf(f[11], "%d", &ut)
	fmt.Sscanf(f[12], "%d", &st)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// latencies collects durations and reports percentiles.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies{}, l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)-1))
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

var _ = context.Background
