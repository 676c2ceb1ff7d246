package pods

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/testserver"
)

// kubectl runs the embedded kubectl of the skiff binary as the admin, with stdin.
func (c *cluster) kubectl(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin, err := testserver.Binary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"kubectl", "--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// bindWhenCreated is the scheduler for a pod kubectl creates without a node: it binds the pod to
// the test's node once it exists.
func (c *cluster) bindWhenCreated(t *testing.T, ns, name string) {
	go func() {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := c.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{}); err == nil {
				err := c.client.CoreV1().Pods(ns).Bind(context.Background(), &v1.Binding{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Target:     v1.ObjectReference{Kind: "Node", Name: c.node},
				}, metav1.CreateOptions{})
				if err != nil {
					t.Errorf("binding %s/%s: %v", ns, name, err)
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

// waitPodGone deletes a pod (terminal ones go from the API at once) and waits until the node
// removed its sandbox, which it does after the API object is gone.
func (c *cluster) waitPodGone(t *testing.T, ns, name string) {
	t.Helper()
	c.client.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	start := time.Now()
	for {
		sbs, err := c.agent.Runtime().ListPodSandbox(context.Background(), &runtime.SandboxFilter{Labels: map[string]string{"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": ns}})
		if err == nil && len(sbs) == 0 {
			t.Logf("pod %s/%s: sandbox removed %v after the delete", ns, name, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("pod %s/%s: sandbox still there 60s after the delete: %v", ns, name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAttach: kubectl attach -i to a running container, and kubectl run -i --rm, which creates a
// pod with stdin and attaches to it, through the API server and the node agent to the shim.
func TestAttach(t *testing.T) {
	c := startCluster(t)
	t.Cleanup(testserver.RemoveBinary)
	ns := c.namespace(t, "attach")

	t.Run("AttachStdin", func(t *testing.T) {
		app := c.busybox("app", "read x; echo got $x; echo bye >&2")
		app.Stdin, app.StdinOnce = true, true
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "reader"}, Spec: v1.PodSpec{
			RestartPolicy: v1.RestartPolicyNever, Containers: []v1.Container{app}}})
		c.wait(t, ns, "reader", "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
		out, errOut, err := c.kubectl(t, "hello\n", "attach", "-i", "-n", ns, "reader", "-c", "app")
		if err != nil || !strings.Contains(out, "got hello") || !strings.Contains(errOut, "bye") {
			t.Fatalf("kubectl attach: %v\nstdout %q\nstderr %q", err, out, errOut)
		}
		p := c.wait(t, ns, "reader", "Succeeded", 30*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
		if st := p.Status.ContainerStatuses[0].State.Terminated; st == nil || st.ExitCode != 0 {
			t.Errorf("container state %+v", p.Status.ContainerStatuses[0].State)
		}
		c.waitPodGone(t, ns, "reader")
	})

	t.Run("RunInteractive", func(t *testing.T) {
		c.bindWhenCreated(t, ns, "runner")
		out, errOut, err := c.kubectl(t, "world\n", "run", "-i", "--rm", "--restart=Never", "-n", ns,
			"--image="+c.busybox("x", "").Image, "--image-pull-policy=IfNotPresent", "runner", "--", "sh", "-c", "read x; echo got $x")
		if err != nil || !strings.Contains(out, "got world") {
			t.Fatalf("kubectl run: %v\nstdout %q\nstderr %q", err, out, errOut)
		}
		t.Logf("kubectl run printed %q, %q", out, errOut)
		c.waitPodGone(t, ns, "runner")
	})
}
