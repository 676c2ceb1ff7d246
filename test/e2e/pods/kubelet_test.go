package pods

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/kubelet"
	"github.com/skiff-dev/skiff/internal/kubelet/nodestatus"
	"github.com/skiff-dev/skiff/internal/kubelet/podcgroups"
	"github.com/skiff-dev/skiff/internal/kubelet/staticpod"
	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/test/images/testimages"
)

// TestKubelet checks the node agent's own duties on a real node: static pods and their mirror
// pods, QoS cgroups, OOM kills, and network probes dialled from the node's namespace.
func TestKubelet(t *testing.T) {
	manifests := t.TempDir()
	staticFile := filepath.Join(manifests, "static.yaml")
	// The manifest is there before the node starts: static pods start with the agent.
	writeStaticManifest(t, staticFile, "")
	c := startCluster(t, func(cfg *kubelet.Config) {
		cfg.PodManifestPath = manifests
		cfg.StaticPodPollInterval = 2 * time.Second
	})

	t.Run("StaticPodAndMirror", func(t *testing.T) {
		t.Cleanup(func() { os.Remove(staticFile) })
		name := "static-" + c.node
		m := c.wait(t, "default", name, "a running mirror pod", 90*time.Second, func(p *v1.Pod) bool {
			return p.Status.Phase == v1.PodRunning && isReady(p)
		})
		if m.Annotations[staticpod.AnnotationSource] != "file" || m.Annotations[staticpod.AnnotationMirror] == "" ||
			m.Annotations[staticpod.AnnotationMirror] != m.Annotations[staticpod.AnnotationHash] || m.Annotations[staticpod.AnnotationSeen] == "" {
			t.Errorf("mirror annotations %v", m.Annotations)
		}
		node, err := c.client.CoreV1().Nodes().Get(context.Background(), c.node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if o := m.OwnerReferences; len(o) != 1 || o[0].Kind != "Node" || o[0].Name != c.node || o[0].UID != node.UID {
			t.Errorf("mirror owner references %+v", o)
		}
		body, code := c.get(t, "http://"+net.JoinHostPort(m.Status.PodIP, "8080")+"/hostname")
		if code != 200 || strings.TrimSpace(body) != name {
			t.Errorf("static pod answers %d %q", code, body)
		}
		// Its logs come through the API like any pod's.
		logs, err := c.client.CoreV1().Pods("default").GetLogs(name, &v1.PodLogOptions{}).DoRaw(context.Background())
		if err != nil || !strings.Contains(string(logs), "listening on") {
			t.Errorf("logs of the static pod: %q %v", logs, err)
		}

		// Deleting the mirror through the API brings it back; the pod never stopped.
		cid := m.Status.ContainerStatuses[0].ContainerID
		if err := c.client.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		m2 := c.wait(t, "default", name, "a new mirror pod", 60*time.Second, func(p *v1.Pod) bool {
			return p.UID != m.UID && p.DeletionTimestamp == nil && isReady(p)
		})
		if got := m2.Status.ContainerStatuses[0]; got.ContainerID != cid || got.RestartCount != 0 {
			t.Errorf("the static pod's container changed with its mirror: %s (restarts %d), was %s", got.ContainerID, got.RestartCount, cid)
		}

		// Removing the file stops the pod and removes the mirror.
		if err := os.Remove(staticFile); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, err := c.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
			sbs, _ := c.agent.Runtime().ListPodSandbox(context.Background(), &runtime.SandboxFilter{
				Labels: map[string]string{"io.kubernetes.pod.name": name}})
			if apierrors.IsNotFound(err) && len(sbs) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("static pod still there after its file went: mirror err %v, sandboxes %d", err, len(sbs))
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("QoSCgroups", func(t *testing.T) {
		ns := c.namespace(t, "qos")
		q := func(cpu, mem string) v1.ResourceList {
			return v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem)}
		}
		guaranteed := c.testserver("app")
		guaranteed.Resources = v1.ResourceRequirements{Requests: q("100m", "64Mi"), Limits: q("100m", "64Mi")}
		burstable := c.testserver("app")
		burstable.Resources = v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("50m")}}
		cases := []struct {
			name   string
			ctr    v1.Container
			class  v1.PodQOSClass
			tier   string
			shares string
			memory int64
		}{
			{"guaranteed", guaranteed, v1.PodQOSGuaranteed, "kubepods", "102", 64 << 20},
			{"burstable", burstable, v1.PodQOSBurstable, "kubepods/burstable", "51", 0},
			{"besteffort", c.testserver("app"), v1.PodQOSBestEffort, "kubepods/besteffort", "2", 0},
		}
		for _, tc := range cases {
			c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Spec: v1.PodSpec{Containers: []v1.Container{tc.ctr}}})
		}
		cg, err := podcgroups.New(podcgroups.Config{Root: c.cgroupRoot})
		if err != nil {
			t.Fatal(err)
		}
		refused := false
		if hr, ok := c.agent.Runtime().(interface{ HostRefusals() map[string]string }); ok {
			_, refused = hr.HostRefusals()["oom_score_adj"]
		}
		t.Logf("the host refuses negative oom_score_adj: %v", refused)
		for _, tc := range cases {
			p := c.wait(t, ns, tc.name, "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
			if p.Status.QOSClass != tc.class {
				t.Errorf("%s: qosClass %q", tc.name, p.Status.QOSClass)
			}
			rel := filepath.Join(c.cgroupRoot, tc.tier, "pod"+string(p.UID))
			cpuDir := cg.Dir("cpu", rel)
			if b, err := os.ReadFile(filepath.Join(cpuDir, "cpu.shares")); err != nil || strings.TrimSpace(string(b)) != tc.shares {
				t.Errorf("%s: %s/cpu.shares = %q (%v), want %s", tc.name, cpuDir, b, err, tc.shares)
			}
			if subs := subdirs(cpuDir); subs < 2 {
				t.Errorf("%s: the pod cgroup %s holds %d cgroups, want the sandbox's and the container's", tc.name, cpuDir, subs)
			}
			if tc.memory > 0 {
				b, err := os.ReadFile(filepath.Join(cg.Dir("memory", rel), "memory.limit_in_bytes"))
				if err != nil || strings.TrimSpace(string(b)) != strconv.FormatInt(tc.memory, 10) {
					t.Errorf("%s: pod memory limit %q (%v), want %d", tc.name, b, err, tc.memory)
				}
			}
			// oom_score_adj by QoS class, with 0 where the host refuses negative values.
			want := map[v1.PodQOSClass]string{v1.PodQOSGuaranteed: "-997", v1.PodQOSBestEffort: "1000"}[tc.class]
			if tc.class == v1.PodQOSGuaranteed && refused {
				want = "0"
			}
			if want != "" {
				cs, _ := c.agent.Runtime().ListContainers(context.Background(), &runtime.ContainerFilter{
					State: runtime.ContainerRunning, Labels: map[string]string{"io.kubernetes.pod.uid": string(p.UID)}})
				if len(cs) != 1 {
					t.Fatalf("%s: running containers %v", tc.name, cs)
				}
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", cs[0].Pid))
				if err != nil || strings.TrimSpace(string(b)) != want {
					t.Errorf("%s: oom_score_adj %q (%v), want %s", tc.name, b, err, want)
				}
			}
		}
		if refused {
			c.waitNode(t, "the refused oom_score_adj on the Node", func(n *v1.Node) bool {
				for _, cd := range n.Status.Conditions {
					if cd.Type == nodestatus.ConditionHostSettingsRefused && cd.Status == v1.ConditionTrue && strings.Contains(cd.Message, "oom_score_adj") {
						return true
					}
				}
				return false
			})
		}
	})

	t.Run("OOMKilled", func(t *testing.T) {
		ns := c.namespace(t, "oom")
		app := v1.Container{Name: "hog", Image: c.images.Ref(testimages.Testserver), ImagePullPolicy: v1.PullIfNotPresent,
			Command:   []string{"testserver", "alloc", "96"},
			Resources: v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse("32Mi")}}}
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hog"}, Spec: v1.PodSpec{Containers: []v1.Container{app}}})
		p := c.wait(t, ns, "hog", "an OOM kill in lastState", 90*time.Second, func(p *v1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].LastTerminationState.Terminated != nil
		})
		last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if last.Reason != "OOMKilled" || last.ExitCode != 137 {
			t.Errorf("last state %+v, want OOMKilled with exit code 137", last)
		}
	})

	t.Run("NetworkProbesFromTheNodeNamespace", func(t *testing.T) {
		ns := c.namespace(t, "probe")
		app := c.testserver("app")
		app.Ports = []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}
		app.StartupProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromString("http")}},
			PeriodSeconds: 1, FailureThreshold: 30}
		app.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt(8080)}},
			PeriodSeconds: 1, FailureThreshold: 1}
		app.LivenessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
			PeriodSeconds: 1, FailureThreshold: 2}
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probed"}, Spec: v1.PodSpec{Containers: []v1.Container{app}}})
		// Ready only if the httpGet probe reached the pod from the node's namespace.
		p := c.wait(t, ns, "probed", "Ready", 60*time.Second, isReady)
		base := "http://" + net.JoinHostPort(p.Status.PodIP, "8080")
		post := func(path string) {
			resp, err := c.do(t, http.MethodPost, base+path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		post("/fail?probe=readyz")
		c.wait(t, ns, "probed", "unready", 30*time.Second, func(p *v1.Pod) bool { return !isReady(p) })
		post("/recover?probe=readyz")
		p = c.wait(t, ns, "probed", "Ready again", 30*time.Second, isReady)
		if n := p.Status.ContainerStatuses[0].RestartCount; n != 0 {
			t.Fatalf("readiness flips restarted the container (%d restarts)", n)
		}
		post("/fail?probe=healthz")
		c.wait(t, ns, "probed", "a liveness restart", 60*time.Second, func(p *v1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return cs.RestartCount >= 1 && cs.State.Running != nil
		})
		if ev := events(t, c, ns, "probed"); !strings.Contains(ev, "Liveness probe failed: HTTP probe failed with statuscode: 503") {
			t.Errorf("no liveness failure event in\n%s", ev)
		}
	})
}

func writeStaticManifest(t *testing.T, path, extra string) {
	t.Helper()
	set := testimages.Ensure(t)
	m := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: static
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %s
    imagePullPolicy: IfNotPresent
%s`, set.Ref(testimages.Testserver), extra)
	if err := os.WriteFile(path, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
}

func subdirs(dir string) int {
	n := 0
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			n++
		}
	}
	return n
}

func (c *cluster) waitNode(t *testing.T, what string, cond func(n *v1.Node) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := c.client.CoreV1().Nodes().Get(context.Background(), c.node, metav1.GetOptions{})
		if err == nil && cond(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
