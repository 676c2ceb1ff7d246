package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/network"
	"github.com/skiff-dev/skiff/internal/network/nettest"
	"github.com/skiff-dev/skiff/internal/proxy"
	"github.com/skiff-dev/skiff/internal/testserver"
)

// The cluster of these tests: two nodes and an outside client on one nettest LAN, each node with
// a bridge and pods (bare namespaces) from internal/network, routes to the other node's pod CIDR
// (what the overlay will do) and a default route into the LAN (which leads nowhere: the switch
// has no uplink). Each pod serves "<pod name> <client address>" on TCP 8080.

var clusterCIDR = nettest.ClusterCIDR.String()

type testNode struct {
	name   string
	host   *nettest.Host
	net    *network.Network
	cfg    proxy.Config
	cancel context.CancelFunc
	done   chan error
}

type testPod struct {
	name string
	ns   *nettest.Namespace
	ip   netip.Addr
	node *testNode
}

type env struct {
	t      *testing.T
	client kubernetes.Interface
	lan    *nettest.LAN
	nodes  []*testNode
	out    *nettest.Host // a machine outside the cluster
}

func newEnv(t *testing.T) *env {
	nettest.RequireRoot(t)
	s := testserver.Start(t, testserver.Options{})
	lan := nettest.NewLAN(t, 3)
	e := &env{t: t, client: s.Client, lan: lan, out: lan.Hosts[2]}
	for i, h := range lan.Hosts[:2] {
		name := fmt.Sprintf("node%d", i)
		n, err := network.New(network.Config{BridgeName: network.BridgeName(name), PodCIDR: h.PodCIDR.String(),
			StateDir: t.TempDir(), NetNS: h.Path})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		if err := n.Setup(); err != nil {
			t.Fatal(err)
		}
		nl := h.Netlink(t)
		eth, err := nl.LinkByName(h.Iface)
		if err != nil {
			t.Fatal(err)
		}
		gw := lan.Subnet.Addr().Next().Next().Next().Next() // 198.18.0.4: nobody
		if err := nl.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
			t.Fatal(err)
		}
		for j, other := range lan.Hosts[:2] {
			if j == i {
				continue
			}
			_, dst, _ := net.ParseCIDR(other.PodCIDR.String())
			if err := nl.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: dst, Gw: other.IP.AsSlice()}); err != nil {
				t.Fatal(err)
			}
		}
		tn := &testNode{name: name, host: h, net: n, cfg: proxy.Config{NodeName: name, ServiceCIDR: "10.96.0.0/12",
			ClusterCIDR: clusterCIDR, NetNS: h.Path}}
		e.nodes = append(e.nodes, tn)
		e.startProxy(tn)
	}
	return e
}

func (e *env) startProxy(n *testNode) {
	e.t.Helper()
	p, err := proxy.New(e.client, n.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- p.Run(ctx) }()
	e.t.Cleanup(n.stop)
	select {
	case <-p.Synced():
	case err := <-n.done:
		e.t.Fatalf("proxy %s: %v", n.name, err)
	case <-time.After(30 * time.Second):
		e.t.Fatalf("proxy %s did not sync", n.name)
	}
}

func (n *testNode) stop() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.cancel = nil
	}
}

// pod makes a pod namespace on node n serving its name on TCP 8080.
func (e *env) pod(n *testNode, name string) *testPod {
	e.t.Helper()
	ns := nettest.NewNamespace(e.t, name)
	ip, err := n.net.Attach(name, ns.Path)
	if err != nil {
		e.t.Fatal(err)
	}
	addr, _ := netip.AddrFromSlice(ip.To4())
	p := &testPod{name: name, ns: ns, ip: addr, node: n}
	ln, err := ns.Listen("tcp", ":8080")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s", name, c.RemoteAddr().(*net.TCPAddr).IP)
			c.Close()
		}
	}()
	return p
}

type dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// get connects to addr from d and returns the backend's answer: pod name and the source
// address the pod saw.
func get(d dialer, addr string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return "", "", err
	}
	name, src, _ := strings.Cut(string(b), " ")
	return name, src, nil
}

// backends asks addr n times and returns who answered, with how many answers each.
func backends(d dialer, addr string, n int) (map[string]int, error) {
	seen := map[string]int{}
	for range n {
		name, _, err := get(d, addr)
		if err != nil {
			return nil, err
		}
		seen[name]++
	}
	return seen, nil
}

func (e *env) service(name string, mutate func(*v1.Service)) *v1.Service {
	e.t.Helper()
	s := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}}}}
	if mutate != nil {
		mutate(s)
	}
	s, err := e.client.CoreV1().Services("default").Create(context.Background(), s, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

type epState struct {
	pod   *testPod
	ready bool
}

// slice writes the Service's one EndpointSlice (created or replaced) with the given endpoints.
func (e *env) slice(svc string, eps ...epState) {
	e.t.Helper()
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To(int32(8080))}},
	}
	for _, ep := range eps {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{ep.pod.ip.String()},
			NodeName: ptr.To(ep.pod.node.name), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ep.ready)}})
	}
	api := e.client.DiscoveryV1().EndpointSlices("default")
	cur, err := api.Get(context.Background(), sl.Name, metav1.GetOptions{})
	if err == nil {
		sl.ResourceVersion = cur.ResourceVersion
		_, err = api.Update(context.Background(), sl, metav1.UpdateOptions{})
	} else {
		_, err = api.Create(context.Background(), sl, metav1.CreateOptions{})
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// eventually retries check until it returns nil or 10 s pass.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wantBackends(t *testing.T, d dialer, addr string, want ...string) {
	t.Helper()
	eventually(t, "backends of "+addr, func() error {
		seen, err := backends(d, addr, 10*len(want))
		if err != nil {
			return err
		}
		if len(seen) != len(want) {
			return fmt.Errorf("answered by %v, want %v", seen, want)
		}
		for _, w := range want {
			if seen[w] == 0 {
				return fmt.Errorf("answered by %v, want %v", seen, want)
			}
		}
		return nil
	})
}

// refused asserts that a connection to addr is refused, and quickly (a reject, not a timeout).
func refused(t *testing.T, d dialer, addr string) {
	t.Helper()
	eventually(t, "refusal of "+addr, func() error {
		start := time.Now()
		_, _, err := get(d, addr)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("got %v, want connection refused", err)
		}
		if el := time.Since(start); el > 500*time.Millisecond {
			return fmt.Errorf("refused after %v", el)
		}
		return nil
	})
}

func vip(s *v1.Service) string { return net.JoinHostPort(s.Spec.ClusterIP, "80") }

func nodePortOn(n *testNode, s *v1.Service) string {
	return net.JoinHostPort(n.host.IP.String(), fmt.Sprint(s.Spec.Ports[0].NodePort))
}

func TestServiceTraffic(t *testing.T) {
	e := newEnv(t)
	n0, n1 := e.nodes[0], e.nodes[1]
	a := e.pod(n0, "pod-a")
	b := e.pod(n0, "pod-b")
	c := e.pod(n1, "pod-c")
	client := e.pod(n1, "client")

	web := e.service("web", func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeNodePort })
	e.slice("web", epState{a, true}, epState{b, true}, epState{c, true})

	t.Run("ClusterIPFromPodAndNode", func(t *testing.T) {
		wantBackends(t, client.ns, vip(web), "pod-a", "pod-b", "pod-c")
		wantBackends(t, n0.host, vip(web), "pod-a", "pod-b", "pod-c")
		wantBackends(t, n1.host, vip(web), "pod-a", "pod-b", "pod-c")
		// Pod to Service keeps the pod's address (no masquerade inside the cluster).
		eventually(t, "source address", func() error {
			name, src, err := get(client.ns, vip(web))
			if err != nil {
				return err
			}
			if src != client.ip.String() {
				return fmt.Errorf("%s saw %s, want %s", name, src, client.ip)
			}
			return nil
		})
	})
	t.Run("NodePortOnEachNode", func(t *testing.T) {
		for _, n := range e.nodes {
			wantBackends(t, e.out, nodePortOn(n, web), "pod-a", "pod-b", "pod-c")
		}
	})
	t.Run("Readiness", func(t *testing.T) {
		e.slice("web", epState{a, true}, epState{b, false}, epState{c, true})
		wantBackends(t, client.ns, vip(web), "pod-a", "pod-c")
		e.slice("web", epState{a, true}, epState{b, true}, epState{c, true})
		wantBackends(t, client.ns, vip(web), "pod-a", "pod-b", "pod-c")
	})
	t.Run("NoEndpointsRejected", func(t *testing.T) {
		empty := e.service("empty", func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeNodePort })
		refused(t, client.ns, vip(empty))
		refused(t, n0.host, vip(empty))
		refused(t, e.out, nodePortOn(n0, empty))
		// An address of the service range nobody holds, and a port the Service lacks.
		refused(t, client.ns, "10.96.200.200:80")
		refused(t, client.ns, net.JoinHostPort(web.Spec.ClusterIP, "81"))
		// Scaling to zero: the VIP rejects at once.
		w2 := e.service("web2", nil)
		e.slice("web2", epState{a, true})
		wantBackends(t, client.ns, vip(w2), "pod-a")
		e.slice("web2")
		refused(t, client.ns, vip(w2))
	})
	t.Run("ClientIPAffinity", func(t *testing.T) {
		sticky := e.service("sticky", func(s *v1.Service) {
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(60))}}
		})
		e.slice("sticky", epState{a, true}, epState{b, true}, epState{c, true})
		eventually(t, "affinity", func() error {
			seen, err := backends(client.ns, vip(sticky), 20)
			if err != nil {
				return err
			}
			if len(seen) != 1 {
				return fmt.Errorf("answered by %v, want one backend", seen)
			}
			return nil
		})
	})
	t.Run("InternalTrafficPolicyLocal", func(t *testing.T) {
		local := e.service("itp", func(s *v1.Service) { p := v1.ServiceInternalTrafficPolicyLocal; s.Spec.InternalTrafficPolicy = &p })
		e.slice("itp", epState{a, true}, epState{b, true}, epState{c, true})
		wantBackends(t, n0.host, vip(local), "pod-a", "pod-b")
		wantBackends(t, client.ns, vip(local), "pod-c")
	})
	t.Run("ExternalTrafficPolicyLocal", func(t *testing.T) {
		etp := e.service("etp", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		})
		e.slice("etp", epState{c, true})
		wantBackends(t, e.out, nodePortOn(n1, etp), "pod-c")
		// The client's own address reaches the pod.
		_, src, err := get(e.out, nodePortOn(n1, etp))
		if err != nil || src != e.out.IP.String() {
			t.Fatalf("eTP=Local: pod saw %q (%v), want the client %s", src, err, e.out.IP)
		}
		// A node without a local endpoint does not answer (dropped, not forwarded).
		if _, _, err := get(e.out, nodePortOn(n0, etp)); err == nil {
			t.Fatal("eTP=Local: a node without local endpoints answered")
		}
		// With eTP=Cluster the node masquerades.
		_, src, err = get(e.out, nodePortOn(n1, web))
		if err != nil || src == e.out.IP.String() {
			t.Fatalf("eTP=Cluster: pod saw %q (%v), want a node address", src, err)
		}
	})
	t.Run("Hairpin", func(t *testing.T) {
		self := e.service("self", nil)
		e.slice("self", epState{a, true})
		wantBackends(t, a.ns, vip(self), "pod-a")
	})
	t.Run("MasqueradeLeavingCluster", func(t *testing.T) {
		ln, err := e.out.Listen("tcp", ":9090")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			got <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}()
		c, err := a.ns.DialContext(context.Background(), "tcp", net.JoinHostPort(e.out.IP.String(), "9090"))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if src := <-got; src != n0.host.IP.String() {
			t.Fatalf("outside host saw %s, want the node's address %s", src, n0.host.IP)
		}
	})
	t.Run("HostPort", func(t *testing.T) {
		pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hp", Namespace: "default"},
			Spec: v1.PodSpec{NodeName: n0.name, Containers: []v1.Container{{Name: "c", Image: "x",
				Ports: []v1.ContainerPort{{ContainerPort: 8080, HostPort: 8888, Protocol: v1.ProtocolTCP}}}}}}
		created, err := e.client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.PodIP = b.ip.String()
		created.Status.PodIPs = []v1.PodIP{{IP: b.ip.String()}}
		created.Status.Phase = v1.PodRunning
		if _, err := e.client.CoreV1().Pods("default").UpdateStatus(context.Background(), created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		wantBackends(t, e.out, net.JoinHostPort(n0.host.IP.String(), "8888"), "pod-b")
	})
	t.Run("RestartKeepsRulesThenReconciles", func(t *testing.T) {
		n0.stop()
		// Traffic keeps flowing while no proxy runs.
		wantBackends(t, n0.host, vip(web), "pod-a", "pod-b", "pod-c")
		// Changes while it is down: one endpoint goes, a Service goes.
		e.slice("web", epState{a, true}, epState{c, true})
		if err := e.client.CoreV1().Services("default").Delete(context.Background(), "self", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.startProxy(n0)
		wantBackends(t, n0.host, vip(web), "pod-a", "pod-c")
		chains := tableChains(t, n0)
		for _, c := range chains {
			if strings.Contains(c, "default/self/") {
				t.Fatalf("chain %s of a deleted Service survived the reconcile", c)
			}
		}
	})
	t.Run("Cleanup", func(t *testing.T) {
		n1.stop()
		if err := proxy.Cleanup(n1.cfg); err != nil {
			t.Fatal(err)
		}
		if chains := tableChains(t, n1); len(chains) != 0 {
			t.Fatalf("after cleanup: %v", chains)
		}
		if err := proxy.Cleanup(n1.cfg); err != nil {
			t.Fatalf("second cleanup: %v", err)
		}
	})
	t.Run("NodeRemoval", func(t *testing.T) {
		node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: n0.name}}
		if _, err := e.client.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		if err := e.client.CoreV1().Nodes().Delete(context.Background(), n0.name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "table removed with the node", func() error {
			if chains := tableChains(t, n0); len(chains) != 0 {
				return fmt.Errorf("%d chains left", len(chains))
			}
			return nil
		})
	})
}

// tableChains lists the chains of the node's table, read back over netlink.
func tableChains(t *testing.T, n *testNode) []string {
	t.Helper()
	var names []string
	err := n.host.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil {
			return err
		}
		for _, ch := range chains {
			if ch.Table.Name == proxy.TableName(n.name) {
				names = append(names, ch.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
