package pods

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/skiff-dev/skiff/internal/kubelet"
	"github.com/skiff-dev/skiff/internal/kubelet/podcgroups"
	"github.com/skiff-dev/skiff/internal/network/nettest"
	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/image"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer"
	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/images/testimages"
)

type cluster struct {
	client     kubernetes.Interface
	node       string
	agentDir   string
	cgroupRoot string
	ns         *nettest.Namespace
	http       *http.Client
	images     *testimages.Set
	agent      *kubelet.Kubelet
	config     *rest.Config
	kubeconfig string // the admin's
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startCluster runs a server with its agent; every name the node makes on the host derives
// from the test and a random suffix, and everything is removed when the test ends. agent
// options adjust the node agent's config.
func startCluster(t *testing.T, agent ...func(*kubelet.Config)) *cluster {
	nettest.RequireRoot(t)
	ns := nettest.NewNamespace(t, "node")
	set := testimages.Ensure(t)
	suffix := randHex(3)
	c := &cluster{node: "e2e-" + suffix, cgroupRoot: "/skiff-e2e-" + suffix, ns: ns, images: set}
	dir, err := os.MkdirTemp("", "skiff-e2e-agent-")
	if err != nil {
		t.Fatal(err)
	}
	c.agentDir = dir
	t.Cleanup(func() { c.forceClean(t) })

	store, err := image.Open(image.Config{Root: filepath.Join(dir, "images")})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{testimages.Testserver, testimages.Busybox} {
		if _, err := store.Import(context.Background(), set.Images[name].Archive); err != nil {
			t.Fatalf("import %s: %v", name, err)
		}
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := testserver.Start(t, testserver.Options{Mutate: func(cfg *server.Config) {
		cfg.DisableAgent = false
		cfg.Agent = kubelet.Config{NodeName: c.node, NodeIP: net.ParseIP("127.0.0.1"), DataDir: dir,
			CgroupRoot: c.cgroupRoot, PodCIDR: "198.19.0.0/24", NetNS: ns.Path, APIListener: apiLn}
		for _, f := range agent {
			f(&cfg.Agent)
		}
	}})
	if s.Agent == nil {
		t.Fatal("the server did not start its node agent")
	}
	c.client, c.agent, c.config, c.kubeconfig = s.Client, s.Agent, s.Config, s.Kubeconfig
	c.http = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: ns.DialContext, DisableKeepAlives: true}}
	// Pods go before the server does, so that the agent cleans up after them.
	t.Cleanup(func() { c.deleteAll(t) })
	return c
}

func (c *cluster) deleteAll(t *testing.T) {
	ctx := context.Background()
	nss, err := c.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, n := range nss.Items {
		c.client.CoreV1().Pods(n.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		l, err := c.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.checkNothingLeft(t, "")
}

// checkNothingLeft fails on a mount under the agent's dir, a pod cgroup or a sandbox left of
// the pod uid (of every pod when uid is ""). The agent tears a pod down after its API object is
// gone when the pod had already finished (the API server removes those at once), so leftovers
// get a few seconds to go before they count.
func (c *cluster) checkNothingLeft(t *testing.T, uid string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	left := c.leftovers(uid)
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		left = c.leftovers(uid)
	}
	for _, l := range left {
		t.Error(l)
	}
}

func (c *cluster) leftovers(uid string) []string {
	var left []string
	f, err := os.Open("/proc/thread-self/mountinfo") // see volume.mountInfoPath
	if err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) > 4 && strings.HasPrefix(fs[4], c.agentDir) && (uid == "" || strings.Contains(fs[4], uid)) {
				left = append(left, "mount left: "+fs[4])
			}
		}
		f.Close()
	}
	for _, base := range []string{"/sys/fs/cgroup/*", "/sys/fs/cgroup"} {
		for _, g := range podcgroups.PodGlobs(c.cgroupRoot, uid) {
			m, _ := filepath.Glob(filepath.Join(base, g))
			for _, d := range m {
				left = append(left, "cgroup left: "+d)
			}
		}
	}
	if c.agent != nil {
		f := &runtime.SandboxFilter{}
		if uid != "" {
			f.Labels = map[string]string{"io.kubernetes.pod.uid": uid}
		}
		sbs, _ := c.agent.Runtime().ListPodSandbox(context.Background(), f)
		for _, sb := range sbs {
			left = append(left, fmt.Sprintf("sandbox left: %s/%s %s", sb.Namespace, sb.Name, sb.ID))
		}
	}
	return left
}

// forceClean removes whatever a failed test left: sandboxes (through a runtime over the same
// state), cgroups and the agent's directory.
func (c *cluster) forceClean(t *testing.T) {
	if rt, err := libcontainer.New(libcontainer.Config{StateDir: filepath.Join(c.agentDir, "runtime")}); err == nil {
		sbs, _ := rt.ListPodSandbox(context.Background(), nil)
		for _, sb := range sbs {
			rt.RemovePodSandbox(context.Background(), sb.ID)
		}
		rt.Close()
	}
	for _, base := range []string{"/sys/fs/cgroup/*", "/sys/fs/cgroup"} {
		roots, _ := filepath.Glob(filepath.Join(base, c.cgroupRoot))
		for _, r := range roots {
			var dirs []string
			filepath.Walk(r, func(p string, info os.FileInfo, err error) error {
				if err == nil && info.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				os.Remove(dirs[i])
			}
		}
	}
	if err := os.RemoveAll(c.agentDir); err != nil {
		t.Errorf("removing the agent dir: %v", err)
	}
}

func (c *cluster) namespace(t *testing.T, name string) string {
	t.Helper()
	ns := name + "-" + randHex(2)
	_, err := c.client.CoreV1().Namespaces().Create(context.Background(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func (c *cluster) create(t *testing.T, ns string, pod *v1.Pod) *v1.Pod {
	t.Helper()
	pod.Spec.NodeName = c.node
	p, err := c.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *cluster) wait(t *testing.T, ns, name, what string, timeout time.Duration, cond func(p *v1.Pod) bool) *v1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var p *v1.Pod
	for {
		var err error
		p, err = c.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			if p != nil {
				t.Fatalf("pod %s/%s: timed out waiting for %s; status: %+v", ns, name, what, p.Status)
			}
			t.Fatalf("pod %s/%s: timed out waiting for %s: %v", ns, name, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// do sends a request, retrying while the pod's server is not listening yet: with no readiness
// probe a container is Ready once it runs, which may be before it listens.
func (c *cluster) do(t *testing.T, method, url string) (*http.Response, error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest(method, url, nil)
		resp, err := c.http.Do(req)
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "connection refused") {
			return resp, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := c.do(t, http.MethodGet, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

func isReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func (c *cluster) testserver(name string) v1.Container {
	return v1.Container{Name: name, Image: c.images.Ref(testimages.Testserver), ImagePullPolicy: v1.PullIfNotPresent}
}

func (c *cluster) busybox(name, script string) v1.Container {
	return v1.Container{Name: name, Image: c.images.Ref(testimages.Busybox), ImagePullPolicy: v1.PullIfNotPresent,
		Command: []string{"sh", "-c", script}}
}

func events(t *testing.T, c *cluster, ns, pod string) string {
	t.Helper()
	l, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod).String()})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range l.Items {
		fmt.Fprintf(&b, "%s %s %s\n", e.Type, e.Reason, e.Message)
	}
	return b.String()
}

func TestPods(t *testing.T) {
	c := startCluster(t)

	t.Run("RunsAndAnswers", func(t *testing.T) {
		ns := c.namespace(t, "web")
		start := time.Now()
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1.PodSpec{Containers: []v1.Container{c.testserver("app")}}})
		p := c.wait(t, ns, "web", "Running and Ready", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning && isReady(p) })
		t.Logf("create -> Running and Ready: %v", time.Since(start).Round(time.Millisecond))
		if p.Status.PodIP == "" || p.Status.HostIP == "" || p.Status.StartTime == nil {
			t.Fatalf("status addresses: %+v", p.Status)
		}
		cs := p.Status.ContainerStatuses[0]
		if !strings.HasPrefix(cs.ContainerID, "skiff://") || cs.ImageID == "" || cs.State.Running == nil || !cs.Ready {
			t.Errorf("container status %+v", cs)
		}
		body, code := c.get(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/hostname")
		if code != 200 || strings.TrimSpace(body) != "web" {
			t.Errorf("GET /hostname = %d %q, want the pod name", code, body)
		}
		// Logs through the API server, which proxies to the node agent's API.
		logs, err := c.client.CoreV1().Pods(ns).GetLogs("web", &v1.PodLogOptions{Container: "app"}).DoRaw(context.Background())
		if err != nil || !strings.Contains(string(logs), "listening on") {
			t.Errorf("logs: %q %v", logs, err)
		}
		ev := events(t, c, ns, "web")
		for _, want := range []string{"Normal Pulled Container image", "Normal Created Created container: app", "Normal Started Started container app"} {
			if !strings.Contains(ev, want) {
				t.Errorf("no event %q in\n%s", want, ev)
			}
		}
	})

	t.Run("SharedNetworkAndEmptyDir", func(t *testing.T) {
		ns := c.namespace(t, "shared")
		web := c.testserver("web")
		web.VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/data"}}
		side := c.busybox("side", "until wget -qO /data/hostname http://127.0.0.1:8080/hostname; do sleep 0.2; done; trap 'exit 0' TERM; sleep 3600 & wait")
		side.VolumeMounts = web.VolumeMounts
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Spec: v1.PodSpec{
			Containers: []v1.Container{web, side},
			Volumes:    []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}},
		}})
		p := c.wait(t, ns, "shared", "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning && isReady(p) })
		url := "http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/read?path=/data/hostname"
		deadline := time.Now().Add(20 * time.Second)
		for {
			body, code := c.get(t, url)
			if code == 200 && strings.TrimSpace(body) == "shared" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the sidecar's file never showed: %d %q", code, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("InitContainerFirst", func(t *testing.T) {
		ns := c.namespace(t, "init")
		app := c.testserver("app")
		app.VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/data"}}
		init := c.busybox("setup", "echo prepared > /data/init")
		init.VolumeMounts = app.VolumeMounts
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "init"}, Spec: v1.PodSpec{
			InitContainers: []v1.Container{init}, Containers: []v1.Container{app},
			Volumes: []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}},
		}})
		p := c.wait(t, ns, "init", "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning && isReady(p) })
		ics := p.Status.InitContainerStatuses[0]
		if ics.State.Terminated == nil || ics.State.Terminated.Reason != "Completed" {
			t.Errorf("init container status %+v", ics)
		}
		if !ics.State.Terminated.FinishedAt.Time.After(time.Time{}) ||
			p.Status.ContainerStatuses[0].State.Running.StartedAt.Before(&ics.State.Terminated.FinishedAt) {
			t.Errorf("the app started (%v) before the init container finished (%v)",
				p.Status.ContainerStatuses[0].State.Running.StartedAt, ics.State.Terminated.FinishedAt)
		}
		body, _ := c.get(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/read?path=/data/init")
		if strings.TrimSpace(body) != "prepared" {
			t.Errorf("init container's file: %q", body)
		}
	})

	t.Run("CrashLoopBackOff", func(t *testing.T) {
		ns := c.namespace(t, "crash")
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crash"}, Spec: v1.PodSpec{
			Containers: []v1.Container{c.busybox("app", "echo dying; exit 3")}}})
		p := c.wait(t, ns, "crash", "CrashLoopBackOff", 60*time.Second, func(p *v1.Pod) bool {
			if len(p.Status.ContainerStatuses) == 0 {
				return false
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == "CrashLoopBackOff"
		})
		cs := p.Status.ContainerStatuses[0]
		if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 3 || lt.Reason != "Error" {
			t.Errorf("last state %+v", cs.LastTerminationState)
		}
		first := cs.RestartCount
		c.wait(t, ns, "crash", "restartCount rising", 40*time.Second, func(p *v1.Pod) bool {
			return p.Status.ContainerStatuses[0].RestartCount > first
		})
		if ev := events(t, c, ns, "crash"); !strings.Contains(ev, "Warning BackOff Back-off restarting failed container app in pod crash_") {
			t.Errorf("no BackOff event in\n%s", ev)
		}
	})

	t.Run("LivenessRestarts", func(t *testing.T) {
		ns := c.namespace(t, "live")
		app := c.testserver("app")
		app.LivenessProbe = &v1.Probe{
			ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"testserver", "fetch", "http://127.0.0.1:8080/healthz"}}},
			PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5,
		}
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "live"}, Spec: v1.PodSpec{Containers: []v1.Container{app}}})
		p := c.wait(t, ns, "live", "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning && isReady(p) })
		resp, err := c.do(t, http.MethodPost, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/fail")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.wait(t, ns, "live", "a restart", 60*time.Second, func(p *v1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return cs.RestartCount >= 1 && cs.State.Running != nil
		})
		ev := events(t, c, ns, "live")
		for _, want := range []string{"Warning Unhealthy Liveness probe failed", "Normal Killing Container app failed liveness probe, will be restarted"} {
			if !strings.Contains(ev, want) {
				t.Errorf("no event %q in\n%s", want, ev)
			}
		}
	})

	t.Run("ReadinessAndExec", func(t *testing.T) {
		ns := c.namespace(t, "ready")
		app := c.testserver("app")
		app.ReadinessProbe = &v1.Probe{
			ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"testserver", "fetch", "http://127.0.0.1:8080/readyz"}}},
			PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5,
		}
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ready"}, Spec: v1.PodSpec{Containers: []v1.Container{app}}})
		p := c.wait(t, ns, "ready", "Ready", 60*time.Second, isReady)
		base := "http://" + net.JoinHostPort(p.Status.PodIP, "8080")
		resp, err := c.do(t, http.MethodPost, base+"/fail?probe=readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		p = c.wait(t, ns, "ready", "unready", 30*time.Second, func(p *v1.Pod) bool { return !isReady(p) })
		for _, cd := range p.Status.Conditions {
			if cd.Type == v1.PodReady && (cd.Reason != "ContainersNotReady" || cd.Message != "containers with unready status: [app]") {
				t.Errorf("Ready condition %+v", cd)
			}
		}
		if p.Status.Phase != v1.PodRunning || p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Errorf("an unready container must keep running: %+v", p.Status.ContainerStatuses[0])
		}
		resp, err = c.do(t, http.MethodPost, base+"/recover?probe=readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.wait(t, ns, "ready", "Ready again", 30*time.Second, isReady)

		// exec through the API server and the node agent's API, as kubectl exec does.
		req := c.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("ready").SubResource("exec").
			VersionedParams(&v1.PodExecOptions{Container: "app", Command: []string{"testserver", "hostname"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
		exec, err := remotecommand.NewSPDYExecutor(c.config, "POST", req.URL())
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
			t.Fatalf("exec: %v (stderr %q)", err, stderr.String())
		}
		if strings.TrimSpace(stdout.String()) != "ready" {
			t.Errorf("exec hostname = %q", stdout.String())
		}
	})

	t.Run("MissingImage", func(t *testing.T) {
		ns := c.namespace(t, "img")
		// A closed port on loopback: the pull fails at once and nothing leaves the machine.
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "img"}, Spec: v1.PodSpec{
			Containers: []v1.Container{{Name: "app", Image: "127.0.0.1:1/missing:1.0", ImagePullPolicy: v1.PullIfNotPresent}}}})
		seen := map[string]bool{}
		c.wait(t, ns, "img", "ErrImagePull then ImagePullBackOff", 60*time.Second, func(p *v1.Pod) bool {
			if len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Waiting != nil {
				seen[p.Status.ContainerStatuses[0].State.Waiting.Reason] = true
			}
			return seen["ImagePullBackOff"]
		})
		ev := events(t, c, ns, "img")
		for _, want := range []string{`Normal Pulling Pulling image "127.0.0.1:1/missing:1.0"`, `Warning Failed Failed to pull image "127.0.0.1:1/missing:1.0"`,
			"Warning Failed Error: ErrImagePull", "Warning Failed Error: ImagePullBackOff"} {
			if !strings.Contains(ev, want) {
				t.Errorf("no event %q in\n%s", want, ev)
			}
		}
	})

	t.Run("DeleteCleansUp", func(t *testing.T) {
		ns := c.namespace(t, "del")
		grace := int64(10)
		c.create(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "del"}, Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: &grace, Containers: []v1.Container{c.testserver("app")},
			Volumes: []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumMemory}}}},
		}})
		p := c.wait(t, ns, "del", "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
		sbs, err := c.agent.Runtime().ListPodSandbox(context.Background(), &runtime.SandboxFilter{Labels: map[string]string{"io.kubernetes.pod.uid": string(p.UID)}})
		if err != nil || len(sbs) != 1 {
			t.Fatalf("sandboxes of the pod: %v %v", sbs, err)
		}
		netns := sbs[0].NetNSPath
		start := time.Now()
		if err := c.client.CoreV1().Pods(ns).Delete(context.Background(), "del", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		for {
			_, err := c.client.CoreV1().Pods(ns).Get(context.Background(), "del", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Since(start) > time.Duration(grace)*time.Second+5*time.Second {
				t.Errorf("holders of the pod's mounts:\n%s", mountHolders(string(p.UID)))
				t.Fatalf("pod still there %v after delete", time.Since(start))
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("delete -> gone: %v", time.Since(start).Round(time.Millisecond))
		c.checkNothingLeft(t, string(p.UID))
		if netns != "" {
			if _, err := os.Stat(netns); err == nil {
				t.Errorf("network namespace %s left", netns)
			}
		}
		if _, err := os.Stat(filepath.Join(c.agentDir, "pods", string(p.UID))); !os.IsNotExist(err) {
			t.Errorf("pod dir left: %v", err)
		}
	})
}

// mountHolders names the processes whose mount namespace still has a mount of the pod: what
// keeps its volumes busy when a teardown fails.
func mountHolders(uid string) string {
	var b strings.Builder
	self, _ := os.Readlink("/proc/self/ns/mnt")
	one, _ := os.Readlink("/proc/1/ns/mnt")
	mi, _ := os.ReadFile("/proc/thread-self/mountinfo")
	fmt.Fprintf(&b, "self ns %s, pid 1 ns %s, self sees the pod: %v, self pid %d\n", self, one, strings.Contains(string(mi), uid), os.Getpid())
	seen := map[string]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		mi, err := os.ReadFile(filepath.Join("/proc", e.Name(), "mountinfo"))
		if err != nil || !strings.Contains(string(mi), uid) {
			continue
		}
		ns, _ := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "mnt"))
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if !seen[ns] {
			seen[ns] = true
			fmt.Fprintf(&b, "pid %s %s %q\n", e.Name(), ns, strings.ReplaceAll(string(cmd), "\x00", " "))
			for _, l := range strings.Split(string(mi), "\n") {
				if strings.Contains(l, uid) {
					fmt.Fprintf(&b, "  %s\n", l)
				}
			}
		}
	}
	return b.String()
}
