package nodes

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/network/nettest"
	"github.com/skiff-dev/skiff/internal/runtime/image"
	"github.com/skiff-dev/skiff/internal/testcluster"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/images/testimages"
)

// survivor is what a restart must leave alone: a server with an exec readiness probe (so that
// the restarted agent has status to keep updating) and a sidecar logging a numbered tick five
// times a second (so that logs are seen to continue).
func survivor(app, ticker v1.Container) *v1.Pod {
	app.ReadinessProbe = &v1.Probe{
		ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"testserver", "fetch", "http://127.0.0.1:8080/readyz"}}},
		PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5,
	}
	grace := int64(5)
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "survivor"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: &grace, Containers: []v1.Container{app, ticker}}}
}

const tickScript = `trap 'exit 0' TERM; i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2 & wait; done`

var tickRE = regexp.MustCompile(`tick (\d+)`)

// lastTick is the highest tick in a log.
func lastTick(log string) int {
	last := -1
	for _, m := range tickRE.FindAllStringSubmatch(log, -1) {
		if n, _ := strconv.Atoi(m[1]); n > last {
			last = n
		}
	}
	return last
}

// node is what the adoption scenario needs of wherever the pod runs.
type node struct {
	client    kubernetes.Interface
	do        func(t testing.TB, method, url string) (string, int)
	leftovers func(uid string) []string
	events    func(t testing.TB, ns, name string) string
	wait      func(t *testing.T, ns, name, what string, timeout time.Duration, cond func(*v1.Pod) bool) *v1.Pod
}

func containerIDs(p *v1.Pod) map[string]string {
	ids := map[string]string{}
	for _, cs := range p.Status.ContainerStatuses {
		ids[cs.Name] = cs.ContainerID
	}
	return ids
}

func logsOf(t *testing.T, cl kubernetes.Interface, ns, pod, container string) string {
	t.Helper()
	b, err := cl.CoreV1().Pods(ns).GetLogs(pod, &v1.PodLogOptions{Container: container}).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("logs of %s: %v", container, err)
	}
	return string(b)
}

// adoption runs the pod, calls restart (which takes the node agent down and up again) and checks
// the pod came through untouched: same containers, no restart counted, nothing started twice,
// logs continuing, status still maintained, and a clean delete afterwards.
func adoption(t *testing.T, n node, ns string, pod *v1.Pod, restart func()) {
	ctx := context.Background()
	isReady := func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning && testcluster.PodReady(p) }
	before := n.wait(t, ns, pod.Name, "Running and Ready", time.Minute, isReady)
	base := "http://" + net.JoinHostPort(before.Status.PodIP, "8080")
	if body, code := n.do(t, http.MethodGet, base+"/hostname"); code != 200 || strings.TrimSpace(body) != pod.Name {
		t.Fatalf("GET /hostname = %d %q", code, body)
	}
	tickBefore := lastTick(logsOf(t, n.client, ns, pod.Name, "ticker"))

	start := time.Now()
	restart()
	t.Logf("restart took %v", time.Since(start).Round(time.Millisecond))

	// Status is still maintained: readiness follows the probe, which only a live agent runs.
	if _, code := n.do(t, http.MethodPost, base+"/fail?probe=readyz"); code != 200 {
		t.Fatalf("POST /fail: %d", code)
	}
	n.wait(t, ns, pod.Name, "unready after the restart", 30*time.Second, func(p *v1.Pod) bool { return !testcluster.PodReady(p) })
	if _, code := n.do(t, http.MethodPost, base+"/recover?probe=readyz"); code != 200 {
		t.Fatalf("POST /recover: %d", code)
	}
	after := n.wait(t, ns, pod.Name, "Ready again", 30*time.Second, isReady)

	if b, a := containerIDs(before), containerIDs(after); fmt.Sprint(b) != fmt.Sprint(a) {
		t.Errorf("containers replaced by the restart: before %v, after %v", b, a)
	}
	for _, cs := range after.Status.ContainerStatuses {
		if cs.RestartCount != 0 || cs.State.Running == nil {
			t.Errorf("container %s after the restart: restartCount %d, state %+v", cs.Name, cs.RestartCount, cs.State)
		}
	}
	if after.Status.PodIP != before.Status.PodIP {
		t.Errorf("pod IP changed from %s to %s", before.Status.PodIP, after.Status.PodIP)
	}
	ev := n.events(t, ns, pod.Name)
	for _, c := range []string{"app", "ticker"} {
		if got := strings.Count(ev, "Normal Started Started container "+c+"\n"); got != 1 {
			t.Errorf("container %s started %d times, want once; events:\n%s", c, got, ev)
		}
	}
	// The ticker's log holds its first tick and keeps growing past the restart.
	var logs string
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs = logsOf(t, n.client, ns, pod.Name, "ticker")
		if lastTick(logs) > tickBefore+5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(logs, "tick 0\n") || lastTick(logs) <= tickBefore+5 {
		t.Errorf("ticker log after the restart (last tick before it: %d):\n%s", tickBefore, logs)
	}

	if err := n.client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(time.Duration(*pod.Spec.TerminationGracePeriodSeconds)*time.Second + 10*time.Second)
	for {
		_, err := n.client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod still there after delete: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if left := n.leftovers(string(after.UID)); len(left) > 0 {
		t.Errorf("left after delete: %v", left)
	}
}

// TestAgentKill9Adopts kills a node agent (SIGKILL) under a running pod and starts it again.
func TestAgentKill9Adopts(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	nd := c.Nodes[0]
	ns := c.Namespace(t, "adopt")
	p := c.CreatePod(t, ns, nd, survivor(c.Testserver("app"), c.Busybox("ticker", tickScript)))
	adoption(t, node{
		client: c.Client, do: nd.Do, leftovers: nd.Leftovers, events: c.Events,
		wait: func(t *testing.T, ns, name, what string, timeout time.Duration, cond func(*v1.Pod) bool) *v1.Pod {
			return c.WaitPod(t, ns, name, what, timeout, cond)
		},
	}, ns, p, func() {
		nd.Kill(t)
		// While no agent runs, the pod keeps serving.
		time.Sleep(time.Second)
		if body, code := nd.Get(t, "http://"+net.JoinHostPort(c.WaitRunning(t, ns, p.Name).Status.PodIP, "8080")+"/hostname"); code != 200 {
			t.Errorf("the pod stopped answering with its agent down: %d %q", code, body)
		}
		nd.Start(t)
		c.WaitNodesReady(t, 30*time.Second)
	})
}

// serverProc is a `skiff server` process (API server and its in-process agent) in a network
// namespace of its own.
type serverProc struct {
	ns   *nettest.Namespace
	args []string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func (s *serverProc) start(t *testing.T, bin string) {
	t.Helper()
	f, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, s.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.ns.Start(cmd); err != nil {
		f.Close()
		t.Fatal(err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	done := s.done
	go func() { cmd.Wait(); f.Close(); close(done) }()
}

func (s *serverProc) kill() {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		<-s.done
		s.cmd = nil
	}
}

// TestServerKill9Adopts kills the whole `skiff server` process (control plane and agent) with
// SIGKILL under a running pod and starts it again over the same data dir.
func TestServerKill9Adopts(t *testing.T) {
	nettest.RequireRoot(t)
	bin, err := testserver.Binary()
	if err != nil {
		t.Fatal(err)
	}
	set := testimages.Ensure(t)
	netns := nettest.NewNamespace(t, "server")
	dir, err := os.MkdirTemp("", "skiff-srv-")
	if err != nil {
		t.Fatal(err)
	}
	name := "srv-" + filepath.Base(dir)[len("skiff-srv-"):]
	cgroupRoot := "/skiff-e2e-" + name
	agentDir := filepath.Join(dir, "agent")
	t.Cleanup(func() { testcluster.ForceClean(t, agentDir, cgroupRoot); os.RemoveAll(dir) })
	store, err := image.Open(image.Config{Root: filepath.Join(agentDir, "images")})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{testimages.Testserver, testimages.Busybox} {
		if _, err := store.Import(context.Background(), set.Images[img].Archive); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh namespace has every port free: the server's address is fixed across restarts.
	s := &serverProc{ns: netns, log: filepath.Join(t.TempDir(), "server.log"), args: []string{"server",
		"--data-dir", dir, "--bind-address", "127.0.0.1", "--secure-port", "6443", "--node-name", name,
		"--cgroup-root", cgroupRoot, "--pod-cidr", "198.19.0.0/24", "--log-level", "debug"}}
	s.start(t, bin)
	t.Cleanup(s.kill)
	dumpLog := func() {
		if b, err := os.ReadFile(s.log); err == nil {
			lines := strings.Split(string(b), "\n")
			if len(lines) > 80 {
				lines = lines[len(lines)-80:]
			}
			t.Logf("--- skiff server log\n%s", strings.Join(lines, "\n"))
		}
	}
	connect := func() kubernetes.Interface {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			rc, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
			if err == nil {
				rc.Dial = netns.DialContext
				rc.Timeout = 10 * time.Second
				cs, err := kubernetes.NewForConfig(rc)
				if err == nil {
					if n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{}); err == nil && testcluster.NodeReady(n) {
						return cs
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		dumpLog()
		t.Fatal("skiff server and its node did not become ready")
		return nil
	}
	cl := connect()
	// Pods go while the server runs, so that its agent tears them down.
	t.Cleanup(func() {
		cl.CoreV1().Pods("").DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
		if t.Failed() {
			dumpLog()
		}
	})
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: netns.DialContext, DisableKeepAlives: true}}
	do := func(t testing.TB, method, url string) (string, int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			req, _ := http.NewRequest(method, url, nil)
			resp, err := httpc.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return string(b), resp.StatusCode
			}
			if time.Now().After(deadline) || !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("%s %s: %v", method, url, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ns := "default"
	app := v1.Container{Name: "app", Image: set.Ref(testimages.Testserver), ImagePullPolicy: v1.PullIfNotPresent}
	ticker := v1.Container{Name: "ticker", Image: set.Ref(testimages.Busybox), ImagePullPolicy: v1.PullIfNotPresent, Command: []string{"sh", "-c", tickScript}}
	pod := survivor(app, ticker)
	pod.Spec.NodeName = name
	if _, err := cl.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n := node{
		client: cl, do: do,
		leftovers: func(uid string) []string { return testcluster.Leftovers(agentDir, cgroupRoot, uid) },
		events: func(t testing.TB, ns, name string) string {
			l, err := cl.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, e := range l.Items {
				fmt.Fprintf(&b, "%s %s %s\n", e.Type, e.Reason, e.Message)
			}
			return b.String()
		},
		wait: func(t *testing.T, ns, name, what string, timeout time.Duration, cond func(*v1.Pod) bool) *v1.Pod {
			t.Helper()
			deadline := time.Now().Add(timeout)
			for {
				p, err := cl.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
				if err == nil && cond(p) {
					return p
				}
				if time.Now().After(deadline) {
					dumpLog()
					t.Fatalf("pod %s/%s: timed out waiting for %s (%v): %+v", ns, name, what, err, p)
				}
				time.Sleep(100 * time.Millisecond)
			}
		},
	}
	adoption(t, n, ns, pod, func() {
		s.kill()
		s.start(t, bin)
		// The old client reaches the new server: same address, same credentials.
		connect()
	})
}
