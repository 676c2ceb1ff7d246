package kubectl

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeletserver "github.com/skiff-dev/skiff/internal/kubelet/server"
	"github.com/skiff-dev/skiff/internal/network/nettest"
	"github.com/skiff-dev/skiff/internal/pki"
	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/fake"
)

// onePod is the kubelet core of a node running one pod.
type onePod struct {
	ns, name string
	ref      kubeletserver.ContainerRef
	sandbox  kubeletserver.SandboxRef
}

func (p *onePod) Container(ns, pod, c string) (kubeletserver.ContainerRef, error) {
	if ns != p.ns || pod != p.name || c != "app" {
		return kubeletserver.ContainerRef{}, fmt.Errorf("container %s/%s/%s: %w", ns, pod, c, runtime.ErrNotFound)
	}
	return p.ref, nil
}

func (p *onePod) Sandbox(ns, pod string) (kubeletserver.SandboxRef, error) {
	if ns != p.ns || pod != p.name {
		return kubeletserver.SandboxRef{}, fmt.Errorf("pod %s/%s: %w", ns, pod, runtime.ErrNotFound)
	}
	return p.sandbox, nil
}

// TestPodConnect runs kubectl logs, exec and port-forward through the API server's proxy to the
// node agent's API, on a node whose runtime is the fake one and whose pod network namespace the
// test made.
func TestPodConnect(t *testing.T) {
	nettest.RequireRoot(t)
	ns := namespace(t, "podconnect")
	ctx := t.Context()
	dir := t.TempDir()

	// The node agent: the fake runtime with one running container, serving with a certificate of
	// the cluster CA.
	rt := fake.New(dir, nil)
	sb, err := rt.RunPodSandbox(ctx, &runtime.SandboxConfig{Name: "web", Namespace: ns, UID: "uid-web"})
	must(t, err)
	t.Cleanup(func() { rt.RemovePodSandbox(context.Background(), sb) })
	logPath := filepath.Join(dir, "app-1.log")
	id, err := rt.CreateContainer(ctx, sb, &runtime.ContainerConfig{Name: "app", LogPath: logPath,
		Args: []string{"sh", "-c", "echo started; echo warming up >&2; trap 'exit 0' TERM; sleep 3600 & wait"}})
	must(t, err)
	must(t, rt.StartContainer(ctx, id))
	prevPath := filepath.Join(dir, "app-0.log")
	must(t, os.WriteFile(prevPath, runtime.FormatLogLine(nil, runtime.LogLine{Time: time.Now(), Stream: "stdout", Content: []byte("the crashed attempt")}), 0o644))
	podNS := nettest.NewNamespace(t, "pod")
	ln, err := podNS.Listen("tcp", "127.0.0.1:8080")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served inside the pod\n") }))
	pods := &onePod{ns: ns, name: "web",
		ref:     kubeletserver.ContainerRef{PodUID: "uid-web", ID: id, LogPath: logPath, PreviousLogPath: prevPath},
		sandbox: kubeletserver.SandboxRef{PodUID: "uid-web", NetNSPath: podNS.Path}}

	ca, err := pki.LoadCA(filepath.Join(server.DataDir, "pki"))
	must(t, err)
	kp, err := ca.Issue(pki.CertSpec{CommonName: "podconnect-node", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.ServerAuth})
	must(t, err)
	cert, err := kp.TLSCertificate()
	must(t, err)
	agent := kubeletserver.New(kubeletserver.Config{Pods: pods, Runtime: rt, ClientCA: ca.Pool(), ServingCert: cert, LogPollInterval: 50 * time.Millisecond})
	agentLn, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- agent.Serve(sctx, agentLn) }()
	t.Cleanup(func() { stop(); <-served })

	// The node and the pod as the API server knows them.
	nodeName := "podconnect-node"
	node, err := server.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() { server.Client.CoreV1().Nodes().Delete(context.Background(), nodeName, metav1.DeleteOptions{}) })
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(agentLn.Addr().(*net.TCPAddr).Port)
	_, err = server.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	must(t, err)
	pod, err := server.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "app", Image: "busybox:1.36"}}}}, metav1.CreateOptions{})
	must(t, err)
	pod.Status.Phase = corev1.PodRunning // kubectl port-forward refuses pods that do not run
	_, err = server.Client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	must(t, err)

	t.Run("logs", func(t *testing.T) {
		expectOut(t, "started\nwarming up\n", "logs", "-n", ns, "web")
		expectOut(t, "warming up\n", "logs", "-n", ns, "web", "-c", "app", "--tail=1")
		expectOut(t, "the crashed attempt\n", "logs", "-n", ns, "web", "--previous")
		expectOut(t, "", "logs", "-n", ns, "web", "--since=1h", "--tail=0")
		out := ok(t, "logs", "-n", ns, "pod/web", "--timestamps", "--since=1h")
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z started\n\S+ warming up\n$`).MatchString(out) {
			t.Errorf("logs --timestamps printed %q", out)
		}
	})

	t.Run("exec", func(t *testing.T) {
		expectOut(t, "hi\n", "exec", "-n", ns, "web", "--", "echo", "hi")
		r := kubectlWith(t, opts{stdin: "through stdin\n"}, "exec", "-i", "-n", ns, "web", "-c", "app", "--", "cat")
		if r.Code != 0 || r.Stdout != "through stdin\n" {
			t.Errorf("exec -i cat:\n%s", r)
		}
		r = kubectl(t, "exec", "-n", ns, "web", "--", "sh", "-c", "echo failing >&2; exit 7")
		if r.Code != 7 || !strings.Contains(r.Stderr, "failing") || !strings.Contains(r.Stderr, "command terminated with exit code 7") {
			t.Errorf("exec exit 7:\n%s", r)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, skiffBin, "kubectl", "--kubeconfig", server.Kubeconfig, "port-forward", "-n", ns, "pod/web", ":8080")
		cmd.Env = cleanEnv()
		stdout, err := cmd.StdoutPipe()
		must(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		must(t, cmd.Start())
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("port-forward printed %q: %v; stderr %s", line, err, stderr.String())
		}
		m := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("port-forward printed %q", line)
		}
		for i := range 2 {
			resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://127.0.0.1:" + m[1] + "/")
			if err != nil {
				t.Fatalf("GET %d through port-forward: %v; kubectl stderr %s", i, err, stderr.String())
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "served inside the pod\n" {
				t.Fatalf("GET %d through port-forward: %q", i, b)
			}
		}
	})

	// Last: following ends when the container does.
	t.Run("logs -f", func(t *testing.T) {
		go func() {
			time.Sleep(time.Second)
			rt.StopContainer(context.Background(), id, time.Second)
		}()
		expectOut(t, "started\nwarming up\n", "logs", "-f", "-n", ns, "web")
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
