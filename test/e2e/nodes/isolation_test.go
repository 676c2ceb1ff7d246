package nodes

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/testcluster"
)

// TestIsolation: a pod's containers share the pod's hostname, see only their own processes, and
// with shareProcessNamespace see each other's under the pause process as PID 1.
func TestIsolation(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	nd := c.Nodes[0]
	ns := c.Namespace(t, "iso")
	// Distinct sleep lengths tell the containers' processes apart.
	a := c.Busybox("a", `trap 'exit 0' TERM; sleep 3601 & wait`)
	b := c.Busybox("b", `trap 'exit 0' TERM; sleep 3602 & wait`)
	c.CreatePod(t, ns, nd, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "apart"}, Spec: v1.PodSpec{Containers: []v1.Container{a, b}}})
	share := true
	c.CreatePod(t, ns, nd, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Spec: v1.PodSpec{
		ShareProcessNamespace: &share, Containers: []v1.Container{a, b}}})
	c.WaitRunning(t, ns, "apart")
	c.WaitRunning(t, ns, "shared")

	exec := func(pod, container string, cmd ...string) string {
		t.Helper()
		r := c.Kubectl(t, "", append([]string{"-n", ns, "exec", pod, "-c", container, "--"}, cmd...)...)
		if r.Code != 0 {
			t.Fatalf("exec in %s/%s %v: %s", pod, container, cmd, r)
		}
		return r.Stdout
	}
	for _, pod := range []string{"apart", "shared"} {
		for _, ctr := range []string{"a", "b"} {
			if h := exec(pod, ctr, "hostname"); h != pod+"\n" {
				t.Errorf("hostname in %s/%s = %q, want the pod name", pod, ctr, h)
			}
		}
	}

	// ps reads /proc: what it lists is what the container can see.
	ps := exec("apart", "a", "ps", "-o", "pid,args")
	if !strings.Contains(ps, "sleep 3601") || strings.Contains(ps, "sleep 3602") || strings.Contains(ps, "/pause") ||
		strings.Contains(ps, "skiff") || strings.Contains(ps, "kubelet") {
		t.Errorf("processes seen by container a of a pod without a shared PID namespace:\n%s", ps)
	}
	if n := len(strings.Split(strings.TrimSpace(ps), "\n")) - 1; n > 4 { // sh, sleep, ps (+ a transient)
		t.Errorf("container a sees %d processes:\n%s", n, ps)
	}
	if one := exec("apart", "a", "cat", "/proc/1/cmdline"); !strings.HasPrefix(one, "sh\x00") {
		t.Errorf("PID 1 of container a is %q, want its own sh", one)
	}

	ps = exec("shared", "a", "ps", "-o", "pid,args")
	if !strings.Contains(ps, "sleep 3601") || !strings.Contains(ps, "sleep 3602") {
		t.Errorf("with shareProcessNamespace, container a sees:\n%s", ps)
	}
	if one := exec("shared", "b", "cat", "/proc/1/cmdline"); one != "/pause\x00" {
		t.Errorf("PID 1 with shareProcessNamespace is %q, want the pause process", one)
	}
	if strings.Contains(ps, "skiff") || strings.Contains(ps, "kubelet") {
		t.Errorf("a shared PID namespace shows host processes:\n%s", ps)
	}
}
