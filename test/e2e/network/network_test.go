package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testcluster"
	"github.com/skiff-dev/skiff/test/images/testimages"
)

// stubName is the only name outside the cluster domain the test resolves: the upstream stub on
// loopback answers it, so that forwarding is checked without any resolver off this machine.
const (
	stubName = "stub.skiff.test."
	stubIP   = "192.0.2.53"
)

// TestNetwork runs the scenarios in order on one cluster: starting one costs most of the time.
func TestNetwork(t *testing.T) {
	stub := startStub(t)
	start := time.Now()
	c := testcluster.Start(t, testcluster.Options{
		Nodes: 2, AllocatePodCIDRs: true, ClusterDNS: true, DNSUpstreams: []string{stub},
		Images: []string{testimages.Testserver, testimages.Busybox},
		Server: func(cfg *server.Config) {
			cfg.DisableScheduler, cfg.DisableControllerManager = false, false
			cfg.Controllers = nil // all, with node IPAM configured by AllocatePodCIDRs
		},
	})
	t.Logf("2 nodes Ready in %v", time.Since(start).Round(time.Millisecond))
	ns := c.Namespace(t, "network")
	t.Cleanup(func() {
		if t.Failed() {
			logEvents(t, c, ns)
		}
	})
	a, b := c.Nodes[0], c.Nodes[1]
	// A busybox client on each node; the testserver pods of the pod-to-pod scenario.
	for _, n := range c.Nodes {
		c.CreatePod(t, ns, n, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "client-" + n.Name},
			Spec: v1.PodSpec{Containers: []v1.Container{c.Busybox("sh", "sleep 3600")}, TerminationGracePeriodSeconds: ptr(int64(1))}})
	}
	for _, name := range []string{"pa1", "pa2"} {
		c.CreatePod(t, ns, a, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PodSpec{Containers: []v1.Container{c.Testserver("app")}}})
	}
	c.CreatePod(t, ns, b, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pb1"}, Spec: v1.PodSpec{Containers: []v1.Container{c.Testserver("app")}}})

	t.Run("PodToPod", func(t *testing.T) {
		pa1, pa2, pb1 := c.WaitRunning(t, ns, "pa1"), c.WaitRunning(t, ns, "pa2"), c.WaitRunning(t, ns, "pb1")
		reach(t, c, ns, pa1, pa2) // one node
		reach(t, c, ns, pa1, pb1) // across
		reach(t, c, ns, pb1, pa2) // and back
	})

	svc := deployEcho(t, c, ns)
	vip := svc.Spec.ClusterIP
	t.Run("ClusterIPFromPod", func(t *testing.T) {
		pods := echoPods(t, c, ns, 3)
		for _, n := range c.Nodes {
			client := c.WaitRunning(t, ns, "client-"+n.Name)
			seen := map[string]bool{}
			waitAll(t, "every replica answering the ClusterIP from a pod on "+n.Name, pods, seen, func() []string {
				// busybox 1.35's wget -T crashes (SIGSEGV) in this static build: timeout bounds it.
				r := c.Kubectl(t, "", "-n", ns, "exec", client.Name, "--", "sh", "-c",
					fmt.Sprintf("for i in $(seq 1 12); do timeout 5 wget -qO- http://%s/hostname; done", vip))
				if r.Code != 0 {
					t.Logf("wget loop: %s", r)
				}
				return strings.Fields(r.Stdout)
			})
		}
	})
	t.Run("ClusterIPFromNode", func(t *testing.T) {
		pods := echoPods(t, c, ns, 3)
		for _, n := range c.Nodes {
			seen := map[string]bool{}
			waitAll(t, "every replica answering the ClusterIP from node "+n.Name, pods, seen, func() []string {
				return getN(t, n, "http://"+vip+"/hostname", 12)
			})
		}
	})
	t.Run("NodePort", func(t *testing.T) {
		pods := echoPods(t, c, ns, 3)
		port := svc.Spec.Ports[0].NodePort
		for _, target := range c.Nodes {
			for _, from := range c.Nodes {
				url := fmt.Sprintf("http://%s/hostname", net.JoinHostPort(target.IP.String(), fmt.Sprint(port)))
				seen := map[string]bool{}
				waitAll(t, fmt.Sprintf("every replica answering NodePort %s from %s", url, from.Name), pods, seen, func() []string {
					return getN(t, from, url, 12)
				})
			}
		}
	})
	t.Run("Readiness", func(t *testing.T) {
		pods := echoPods(t, c, ns, 3)
		victim := pods[0]
		n := c.Node(victim.Spec.NodeName)
		probe := "http://" + net.JoinHostPort(victim.Status.PodIP, "8080")
		if _, code := n.Do(t, http.MethodPost, probe+"/fail?probe=readyz"); code != http.StatusOK {
			t.Fatalf("POST /fail to %s: %d", victim.Name, code)
		}
		waitSlice(t, c, ns, "echo", victim.Status.PodIP+" not ready in the EndpointSlice", func(ready map[string]bool) bool {
			r, ok := ready[victim.Status.PodIP]
			return ok && !r || !ok
		})
		// The proxy follows the slice within its programming latency; then no new connection
		// reaches the victim. Wait for a clean round, then check several more.
		others := pods[1:]
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := getN(t, a, "http://"+vip+"/hostname", 12)
			if !contains(got, victim.Name) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still answers the ClusterIP 10 s after it went unready: %v", victim.Name, got)
			}
		}
		for i := 0; i < 3; i++ {
			for _, n := range c.Nodes {
				if got := getN(t, n, "http://"+vip+"/hostname", 10); contains(got, victim.Name) {
					t.Fatalf("unready %s answered through the ClusterIP from %s: %v", victim.Name, n.Name, got)
				}
			}
		}
		seen := map[string]bool{}
		waitAll(t, "the ready replicas still answering", others, seen, func() []string { return getN(t, a, "http://"+vip+"/hostname", 12) })

		if _, code := n.Do(t, http.MethodPost, probe+"/recover?probe=readyz"); code != http.StatusOK {
			t.Fatalf("POST /recover to %s: %d", victim.Name, code)
		}
		waitSlice(t, c, ns, "echo", victim.Status.PodIP+" ready again", func(ready map[string]bool) bool { return ready[victim.Status.PodIP] })
		seen = map[string]bool{}
		waitAll(t, "the recovered replica back in rotation", pods, seen, func() []string { return getN(t, b, "http://"+vip+"/hostname", 12) })
	})

	t.Run("DNS", func(t *testing.T) {
		testDNS(t, c, ns, vip)
	})

	t.Run("ScaleToZeroRejects", func(t *testing.T) {
		r := c.Kubectl(t, "", "-n", ns, "scale", "deployment/echo", "--replicas=0")
		if r.Code != 0 {
			t.Fatalf("kubectl scale: %s", r)
		}
		scaled := time.Now()
		// Terminating pods stay in the slice until they are gone, and the proxy still uses those
		// that serve while no endpoint is ready; once none serves, a new connection has no
		// backend and must be refused at once.
		waitSlice(t, c, ns, "echo", "no ready or serving endpoint", func(ready map[string]bool) bool {
			for _, r := range ready {
				if r {
					return false
				}
			}
			return true
		})
		for _, n := range c.Nodes {
			// Until the proxy has the change a connection may still go to a stopping pod;
			// once it has, the refusal comes at once.
			deadline := time.Now().Add(10 * time.Second)
			for {
				start := time.Now()
				err := dial(n, net.JoinHostPort(vip, "80"), 5*time.Second)
				took := time.Since(start)
				if errors.Is(err, syscall.ECONNREFUSED) {
					if took > time.Second {
						t.Errorf("node %s: refused only after %v", n.Name, took)
					}
					t.Logf("node %s: ClusterIP without endpoints refused in %v, %v after the scale to 0", n.Name,
						took.Round(time.Microsecond), time.Since(scaled).Round(time.Millisecond))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %s: dialing the ClusterIP without endpoints: %v after %v, want connection refused at once", n.Name, err, took)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		// From a pod as well: busybox wget reports the refusal.
		for _, n := range c.Nodes {
			r := c.Kubectl(t, "", "-n", ns, "exec", "client-"+n.Name, "--", "timeout", "5", "wget", "-qO-", "http://"+vip+"/hostname")
			if r.Code == 0 || !strings.Contains(r.Stderr, "Connection refused") {
				t.Errorf("wget of the ClusterIP without endpoints from a pod on %s: want Connection refused; %s", n.Name, r)
			}
		}
	})

	t.Run("NothingLeftBehind", func(t *testing.T) {
		testNothingLeft(t, c, ns)
	})
}

// reach fetches from one pod a page of another by IP and checks, in the server's log, that the
// request came from the client pod's own address.
func reach(t *testing.T, c *testcluster.Cluster, ns string, from, to *v1.Pod) {
	t.Helper()
	url := "http://" + net.JoinHostPort(to.Status.PodIP, "8080") + "/hostname"
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.Kubectl(t, "", "-n", ns, "exec", from.Name, "--", "testserver", "fetch", url)
		if r.Code == 0 && strings.TrimSpace(r.Stdout) == to.Name {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (%s on %s) -> %s (%s on %s): %s", from.Name, from.Status.PodIP, from.Spec.NodeName,
				to.Name, to.Status.PodIP, to.Spec.NodeName, r)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The container's output reaches its log file asynchronously: wait for the line a while.
	deadline = time.Now().Add(10 * time.Second)
	for {
		logs := c.Logs(t, ns, to.Name, "app")
		if strings.Contains(logs, "/hostname from "+from.Status.PodIP+":") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's log shows no request from %s (source address not preserved?):\n%s", to.Name, from.Status.PodIP, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%s on %s -> %s on %s: source %s preserved", from.Name, from.Spec.NodeName, to.Name, to.Spec.NodeName, from.Status.PodIP)
}

// deployEcho creates the Deployment echo (3 testserver replicas spread over the nodes, ready on
// /readyz) and the NodePort Service echo (port 80 -> 8080) in front of it.
func deployEcho(t *testing.T, c *testcluster.Cluster, ns string) *v1.Service {
	t.Helper()
	labels := map[string]string{"app": "echo"}
	app := c.Testserver("app")
	app.Ports = []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	app.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1, TimeoutSeconds: 1}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "echo"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: v1.PodSpec{
			Containers: []v1.Container{app}, TerminationGracePeriodSeconds: ptr(int64(2)),
			TopologySpreadConstraints: []v1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname",
				WhenUnsatisfiable: v1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: labels}}},
		}}}}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "echo"}, Spec: v1.ServiceSpec{Type: v1.ServiceTypeNodePort,
		Selector: labels, Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	out, err := c.Client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// echoPods waits (bounded) for n ready echo pods, on both nodes, and for all of them in the
// Service's EndpointSlice as ready; it returns them sorted by name.
func echoPods(t *testing.T, c *testcluster.Cluster, ns string, n int) []*v1.Pod {
	t.Helper()
	var pods []*v1.Pod
	deadline := time.Now().Add(2 * time.Minute)
	for {
		l, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=echo"})
		pods = pods[:0]
		nodes := map[string]bool{}
		if err == nil {
			for i := range l.Items {
				p := &l.Items[i]
				if p.DeletionTimestamp == nil && p.Status.Phase == v1.PodRunning && testcluster.PodReady(p) {
					pods = append(pods, p)
					nodes[p.Spec.NodeName] = true
				}
			}
		}
		if len(pods) == n && len(nodes) == len(c.Nodes) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d ready echo pods over %d nodes; have %d on %v (%v)", n, len(c.Nodes), len(pods), nodes, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	waitSlice(t, c, ns, "echo", fmt.Sprintf("%d ready endpoints", n), func(ready map[string]bool) bool {
		for _, p := range pods {
			if !ready[p.Status.PodIP] {
				return false
			}
		}
		return len(ready) == n
	})
	return pods
}

// waitSlice waits (bounded) until the ready state of the Service's EndpointSlice addresses
// (address -> ready) satisfies cond.
func waitSlice(t *testing.T, c *testcluster.Cluster, ns, svc, what string, cond func(map[string]bool) bool) {
	t.Helper()
	start := time.Now()
	var last map[string]bool
	for {
		l, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(context.Background(),
			metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
		if err == nil {
			last = map[string]bool{}
			for _, s := range l.Items {
				for _, e := range s.Endpoints {
					// What the proxy sends new connections to: ready endpoints, or, when a
					// Service has none, those still serving while they terminate.
					ready := e.Conditions.Ready == nil || *e.Conditions.Ready
					serving := e.Conditions.Serving != nil && *e.Conditions.Serving
					terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
					for _, a := range e.Addresses {
						last[a] = ready || (serving && terminating)
					}
				}
			}
			if cond(last) {
				t.Logf("EndpointSlice of %s: %s after %v", svc, what, time.Since(start).Round(time.Millisecond))
				return
			}
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("EndpointSlice of %s: no %s after a minute; addresses %v (%v)", svc, what, last, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitAll calls round until the hostnames it returns, accumulated in seen, cover every pod; it
// fails the test after a minute, and on an answer from no pod of the set.
func waitAll(t *testing.T, what string, pods []*v1.Pod, seen map[string]bool, round func() []string) {
	t.Helper()
	want := map[string]bool{}
	for _, p := range pods {
		want[p.Name] = true
	}
	start := time.Now()
	for {
		for _, h := range round() {
			if !want[h] {
				t.Fatalf("%s: answer from %q, not one of %v", what, h, keys(want))
			}
			seen[h] = true
		}
		if len(seen) == len(want) {
			t.Logf("%s: all %d after %v", what, len(want), time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("%s: only %v of %v after a minute", what, keys(seen), keys(want))
		}
	}
}

// getN sends n GETs from the node's namespace, each on a new connection, and returns the bodies.
func getN(t *testing.T, n *testcluster.Node, url string, count int) []string {
	t.Helper()
	cl := n.HTTPClient()
	cl.Timeout = 5 * time.Second
	var out []string
	for i := 0; i < count; i++ {
		resp, err := cl.Get(url)
		if err != nil {
			t.Fatalf("GET %s from %s: %v", url, n.Name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s from %s: %d %s", url, n.Name, resp.StatusCode, b)
		}
		out = append(out, strings.TrimSpace(string(b)))
	}
	return out
}

// dial connects once from the node's namespace.
func dial(n *testcluster.Node, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := n.Host.DialContext(ctx, "tcp", addr)
	if err == nil {
		conn.Close()
	}
	return err
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func ptr[T any](v T) *T { return &v }

// startStub serves stubName on a loopback UDP and TCP port: the cluster DNS's only upstream.
func startStub(t *testing.T) string {
	t.Helper()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && strings.EqualFold(r.Question[0].Name, stubName) && r.Question[0].Qtype == mdns.TypeA {
			rr, _ := mdns.NewRR(stubName + " 30 IN A " + stubIP)
			m.Answer = append(m.Answer, rr)
		} else if len(r.Question) == 1 && !strings.EqualFold(r.Question[0].Name, stubName) {
			m.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: h}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// logEvents shows a namespace's events in order.
func logEvents(t *testing.T, c *testcluster.Cluster, ns string) {
	l, err := c.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return
	}
	var b strings.Builder
	for _, e := range l.Items {
		fmt.Fprintf(&b, "  %s %s/%s %s: %s\n", e.LastTimestamp.Format("15:04:05"), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
	}
	t.Logf("events of %s:\n%s", ns, b.String())
}
