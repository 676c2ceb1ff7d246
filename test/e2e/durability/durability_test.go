package durability

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.RemoveBinary()
	os.Exit(code)
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(t *testing.T, bin, dir string, port int) *proc {
	t.Helper()
	cmd := exec.Command(bin, "server", "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(port), "--log-level", "error", "--disable-agent")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

func client(t *testing.T, dir string) kubernetes.Interface {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
		if err == nil {
			cfg.QPS, cfg.Burst = -1, 0
			cfg.Timeout = 5 * time.Second
			cs, err := kubernetes.NewForConfig(cfg)
			if err == nil {
				if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err == nil {
					return cs
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server did not become ready")
	return nil
}

func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	bin, err := testserver.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "skiff-k9-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	p := start(t, bin, dir, port)
	cs := client(t, dir)

	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, i)
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": name}}
				out, err := cs.CoreV1().ConfigMaps("default").Create(context.Background(), cm, metav1.CreateOptions{})
				if err != nil {
					return // the server is gone; nothing after this was acknowledged
				}
				mu.Lock()
				acked[name] = string(out.UID)
				mu.Unlock()
			}
		}(w)
	}
	// Let the burst run, then kill the server without warning.
	time.Sleep(1500 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	close(stop)
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n < 100 {
		t.Fatalf("only %d writes acknowledged before the kill; the burst did not run", n)
	}

	start(t, bin, dir, port)
	cs = client(t, dir)
	list, err := cs.CoreV1().ConfigMaps("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, cm := range list.Items {
		found[cm.Name] = string(cm.UID)
	}
	lost := 0
	for name, uid := range acked {
		if found[name] != uid {
			lost++
			if lost < 10 {
				t.Errorf("acknowledged write %s (uid %s) lost after kill -9 (found uid %q)", name, uid, found[name])
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, n)
	}
	t.Logf("%d acknowledged writes, all present after kill -9 and restart", n)
}
