package testcluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/skiff-dev/skiff/test/images/testimages"
)

// Namespace creates a namespace named prefix plus a random suffix.
func (c *Cluster) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := prefix + "-" + randHex(2)
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testcluster: namespace %s: %v", ns, err)
	}
	return ns
}

// CreatePod creates pod in ns, bound to node.
func (c *Cluster) CreatePod(t testing.TB, ns string, node *Node, pod *v1.Pod) *v1.Pod {
	t.Helper()
	pod.Spec.NodeName = node.Name
	p, err := c.Client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testcluster: creating pod %s/%s: %v", ns, pod.Name, err)
	}
	return p
}

// WaitPod polls the pod until cond holds and returns it; it fails the test (with the pod's
// status, its events and the node agents' logs) after timeout.
func (c *Cluster) WaitPod(t testing.TB, ns, name, what string, timeout time.Duration, cond func(*v1.Pod) bool) *v1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			c.DumpNodeLogs(t)
			if p != nil && err == nil {
				t.Fatalf("testcluster: pod %s/%s: timed out after %v waiting for %s; status: %+v\nevents:\n%s", ns, name, timeout, what, p.Status, c.Events(t, ns, name))
			}
			t.Fatalf("testcluster: pod %s/%s: timed out after %v waiting for %s: %v", ns, name, timeout, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitRunning waits (up to a minute) for the pod to be Running and Ready.
func (c *Cluster) WaitRunning(t testing.TB, ns, name string) *v1.Pod {
	t.Helper()
	return c.WaitPod(t, ns, name, "Running and Ready", time.Minute, func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodRunning && PodReady(p)
	})
}

// WaitGone waits until the pod no longer exists.
func (c *Cluster) WaitGone(t testing.TB, ns, name string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil && strings.Contains(err.Error(), "not found") {
			return
		}
		if time.Now().After(deadline) {
			c.DumpNodeLogs(t)
			t.Fatalf("testcluster: pod %s/%s still there after %v (%v)", ns, name, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PodReady says whether a pod's Ready condition is True.
func PodReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// Events lists the events of an object of ns, one "Type Reason Message" a line.
func (c *Cluster) Events(t testing.TB, ns, name string) string {
	t.Helper()
	l, err := c.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
	if err != nil {
		return fmt.Sprintf("(events: %v)", err)
	}
	var b strings.Builder
	for _, e := range l.Items {
		fmt.Fprintf(&b, "%s %s %s\n", e.Type, e.Reason, e.Message)
	}
	return b.String()
}

// WaitEvents waits (up to 10 s: the agent records events asynchronously) until the events of the
// object name in ns hold every one of wants, each a substring of a "Type Reason Message" line, and
// fails the test listing the missing ones otherwise. It returns the events.
func (c *Cluster) WaitEvents(t testing.TB, ns, name string, wants ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev := c.Events(t, ns, name)
		var missing []string
		for _, w := range wants {
			if !strings.Contains(ev, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return ev
		}
		if time.Now().After(deadline) {
			t.Errorf("testcluster: %s/%s: no events %q in\n%s", ns, name, missing, ev)
			return ev
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Logs reads a container's log through the API server (and so through its node agent's API).
func (c *Cluster) Logs(t testing.TB, ns, pod, container string) string {
	t.Helper()
	b, err := c.Client.CoreV1().Pods(ns).GetLogs(pod, &v1.PodLogOptions{Container: container}).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("testcluster: logs of %s/%s %s: %v", ns, pod, container, err)
	}
	return string(b)
}

// Testserver is a container of the project's HTTP test server image (port 8080).
func (c *Cluster) Testserver(name string) v1.Container {
	return v1.Container{Name: name, Image: c.Images.Ref(testimages.Testserver), ImagePullPolicy: v1.PullIfNotPresent}
}

// Busybox is a busybox container running script with sh -c.
func (c *Cluster) Busybox(name, script string) v1.Container {
	return v1.Container{Name: name, Image: c.Images.Ref(testimages.Busybox), ImagePullPolicy: v1.PullIfNotPresent,
		Command: []string{"sh", "-c", script}}
}

// HTTPClient sends requests from inside the node's network namespace, where its pods are
// reachable.
func (n *Node) HTTPClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: n.Host.DialContext, DisableKeepAlives: true}}
}

// Get fetches url from the node's namespace, retrying for a while on a refused connection (a
// container runs before it listens) and returns the body and status code.
func (n *Node) Get(t testing.TB, url string) (string, int) {
	t.Helper()
	return n.Do(t, http.MethodGet, url)
}

// Do is Get with a method.
func (n *Node) Do(t testing.TB, method, url string) (string, int) {
	t.Helper()
	cl := n.HTTPClient()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cl.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b), resp.StatusCode
		}
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("testcluster: %s %s from node %s: %v", method, url, n.Name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Run runs a program inside the node's network namespace (only there: it shares the test's
// mounts and PID namespace) and returns its combined output.
func (n *Node) Run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := n.Host.Run(cmd)
	return out.String(), err
}

// Result is what one kubectl run printed.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.Code, r.Stdout, r.Stderr)
}

// KubectlCmd is `skiff kubectl --kubeconfig <admin> args...`, not started: for runs that stream
// (logs -f, port-forward) or need a terminal.
func (c *Cluster) KubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.Binary, append([]string{"kubectl", "--kubeconfig", c.Kubeconfig}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "KUBECONFIG", "HOME", "KUBE_EDITOR", "EDITOR":
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "HOME="+c.home)
	return cmd
}

// Kubectl runs kubectl with stdin and returns what it printed; a minute at most.
func (c *Cluster) Kubectl(t testing.TB, stdin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := c.KubectlCmd(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("testcluster: kubectl %s: %v", strings.Join(args, " "), err)
		}
		r.Code = ee.ExitCode()
	}
	return r
}

// deleteAllPods deletes every pod while the agents run, waits for them to go and fails the test
// on anything a node kept of them.
func (c *Cluster) deleteAllPods(t *testing.T) {
	if c.podsDeleted {
		return
	}
	c.podsDeleted = true
	ctx := context.Background()
	nss, err := c.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("testcluster: listing namespaces: %v", err)
		return
	}
	for _, n := range nss.Items {
		c.Client.CoreV1().Pods(n.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("testcluster: %d pods still there a minute after deleting them all", len(l.Items))
			c.DumpNodeLogs(t)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, n := range c.Nodes {
		if !n.Running() {
			continue // nobody tore its pods down; forceClean will
		}
		for _, l := range n.Leftovers("") {
			t.Errorf("testcluster: node %s kept %s after its pods were deleted", n.Name, l)
		}
	}
	if t.Failed() {
		c.DumpNodeLogs(t)
	}
}
