package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vishvananda/netlink"

	"github.com/skiff-dev/skiff/internal/controllermanager"
	"github.com/skiff-dev/skiff/internal/network/nettest"
	"github.com/skiff-dev/skiff/internal/pki"
	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/images/testimages"
	"github.com/skiff-dev/skiff/test/netguard"
)

// Options shape a cluster.
type Options struct {
	// Nodes is how many node agents run (default 1).
	Nodes int
	// Server adjusts the API server's config. The server's in-process agent is disabled; a test
	// that clears DisableAgent gets it in the test's own network namespace, not on the LAN.
	Server func(*server.Config)
	// Images are the test images (testimages names) imported into every node's store before
	// its agent starts; nil means the testserver and busybox images.
	Images []string
	// Loopback lists addresses (127.0.0.1:port) of servers in the test process that every
	// node reaches at the same address, as if they ran on the node: an image registry, say.
	Loopback []string
	// NodeArgs adds `skiff kubelet` flags for a node (registry mirrors, ...).
	NodeArgs func(n *Node) []string
	// AllocatePodCIDRs starts the nodes without --pod-cidr and runs the node IPAM controller
	// (cluster CIDR nettest.ClusterCIDR) in the API server, so each node adopts the pod CIDR it
	// is given; Node.PodCIDR is then what the Node got. The server runs only that controller
	// unless Server selects others.
	AllocatePodCIDRs bool
	// ClusterDNS runs the API server's cluster DNS with its sockets bound on the first node's LAN
	// address, port 53, inside that node's namespace, as if the server ran on that machine (the
	// default of `skiff server`: DNS at its advertise address). The server publishes that address
	// as the endpoint of the kube-dns Service (the tenth address of the service range), and every
	// node gets --cluster-dns with that Service IP, so a pod's query goes to the VIP and its
	// node's service proxy DNATs it to the first node, across the LAN from the others. Questions
	// outside the cluster domain go to DNSUpstreams.
	ClusterDNS bool
	// DNSUpstreams are the cluster DNS's upstream resolvers: stubs on loopback in the test process
	// (where the DNS forwards from). Never a resolver off this machine; when empty, an address on
	// loopback where nothing listens, so that a stray question fails here instead of leaving.
	DNSUpstreams []string
}

// Cluster is a running cluster.
type Cluster struct {
	Server     *testserver.Server
	Client     kubernetes.Interface
	Config     *rest.Config
	Kubeconfig string // the admin's
	Binary     string // the skiff binary the nodes run
	LAN        *nettest.LAN
	Nodes      []*Node
	Images     *testimages.Set

	// DNSIP is the kube-dns Service address with Options.ClusterDNS.
	DNSIP net.IP

	serviceCIDR string
	ca          *pki.CA
	apiURL      string
	home        string // kubectl's $HOME: its caches stay out of the user's
	opts        Options
	suffix      string // of the node names
	// restartAddr is the API server's address to listen on again when RestartServer starts it.
	restartAddr string
	podsDeleted bool // the end-of-test pod deletion ran (RestartServer runs it early)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Start runs a cluster for t, torn down when t ends. The nodes are registered and Ready when it
// returns.
func Start(t *testing.T, o Options) *Cluster {
	t.Helper()
	nettest.RequireRoot(t)
	if o.Nodes == 0 {
		o.Nodes = 1
	}
	if o.Images == nil {
		o.Images = []string{testimages.Testserver, testimages.Busybox}
	}
	bin, err := testserver.Binary()
	if err != nil {
		t.Fatalf("testcluster: building skiff: %v", err)
	}
	// No packet bound for the cluster, service or LAN ranges leaves the machine while it runs.
	netguard.Ensure(t)
	c := &Cluster{Binary: bin, Images: testimages.Ensure(t), opts: o}
	// Cleanups run last-registered first: the LAN goes after every process in it.
	c.LAN = nettest.NewLAN(t, o.Nodes)
	c.home = t.TempDir()
	c.Server = testserver.Start(t, testserver.Options{Mutate: func(cfg *server.Config) {
		cfg.DisableAgent = true
		cfg.KubeletDial = c.dialNode
		if o.AllocatePodCIDRs {
			cfg.DisableControllerManager = false
			cfg.Controllers = []string{"nodeipam"}
			cfg.NodeIPAM = controllermanager.NodeIPAM{AllocateNodeCIDRs: true,
				ClusterCIDR: nettest.ClusterCIDR.String(), NodeCIDRMaskSize: 24}
		}
		if o.ClusterDNS {
			c.enableClusterDNS(t, cfg)
		}
		if c.restartAddr != "" {
			// The nodes' forwarders and kubeconfigs know the address the server had.
			if ln, err := net.Listen("tcp", c.restartAddr); err == nil {
				if cfg.Listener != nil {
					cfg.Listener.Close()
				}
				cfg.Listener = ln
			} else {
				t.Errorf("testcluster: listening on %s again: %v", c.restartAddr, err)
			}
		}
		if o.Server != nil {
			o.Server(cfg)
		}
		c.serviceCIDR = cfg.ServiceClusterIPRange
		if c.serviceCIDR == "" {
			c.serviceCIDR = "10.96.0.0/12" // the server's default
		}
	}})
	c.Client, c.Config, c.Kubeconfig = c.Server.Client, c.Server.Config, c.Server.Kubeconfig
	c.apiURL = c.Config.Host
	c.ca, err = pki.LoadCA(filepath.Join(c.Server.DataDir, "pki"))
	if err != nil {
		t.Fatalf("testcluster: cluster CA: %v", err)
	}
	c.suffix = randHex(3)
	for _, h := range c.LAN.Hosts {
		c.Nodes = append(c.Nodes, c.prepareNode(t, h))
	}
	for _, n := range c.Nodes {
		if err := n.start(); err != nil {
			t.Fatalf("testcluster: %v", err)
		}
		t.Cleanup(func() { n.stop(10 * time.Second) })
	}
	// Registered last, so it runs first: pods go while their agents still run, so that the
	// agents tear them down as in real life and the check finds what they left.
	t.Cleanup(func() { c.deleteAllPods(t) })
	c.WaitNodesReady(t, 60*time.Second)
	c.readPodCIDRs(t)
	return c
}

// RestartServer stops the API server (with its scheduler and controllers) and starts it again
// on the same data dir and address, as an operator restarting `skiff server`; the node agents
// keep running and reconnect. Pods are deleted at the end of the test while this server runs.
func (c *Cluster) RestartServer(t *testing.T) {
	t.Helper()
	c.restartAddr = strings.TrimPrefix(c.apiURL, "https://")
	c.Server = c.Server.Restart(t)
	c.Client, c.Config = c.Server.Client, c.Server.Config
	// The new server's Stop was registered after Start's pod deletion, so it would run before
	// it: the deletion runs first, from here.
	t.Cleanup(func() { c.deleteAllPods(t) })
}

// enableClusterDNS turns the server's cluster DNS on, its sockets in the first host's namespace.
func (c *Cluster) enableClusterDNS(t *testing.T, cfg *server.Config) {
	h := c.LAN.Hosts[0]
	cidr := cfg.ServiceClusterIPRange
	if cidr == "" {
		cidr = "10.96.0.0/12" // the server's default
	}
	ip, err := server.ClusterDNSIP(cidr)
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	c.DNSIP = ip
	cfg.DisableClusterDNS = false
	cfg.ClusterDNSListen = net.JoinHostPort(h.IP.String(), "53")
	cfg.DNSUpstreams = c.opts.DNSUpstreams
	if len(cfg.DNSUpstreams) == 0 {
		cfg.DNSUpstreams = []string{"127.0.0.1:1"}
	}
	cfg.ClusterDNSBind = func(addr string) (pc net.PacketConn, ln net.Listener, err error) {
		err = h.Do(func() error {
			if pc, err = net.ListenPacket("udp", addr); err != nil {
				return err
			}
			if ln, err = net.Listen("tcp", addr); err != nil {
				pc.Close()
			}
			return err
		})
		return pc, ln, err
	}
}

// prepareNode makes a node agent for host h, reaching the API server and the loopback servers.
func (c *Cluster) prepareNode(t *testing.T, h *nettest.Host) *Node {
	t.Helper()
	n, err := c.newNode(t, h, fmt.Sprintf("n%d-%s", h.Index, c.suffix), c.opts)
	if err != nil {
		t.Fatalf("testcluster: node %d: %v", h.Index, err)
	}
	// A machine reaches ClusterIPs through its default route: the kernel routes a packet before
	// the proxy's output hook DNATs it, and a destination without a route fails at once with
	// "network is unreachable". LAN hosts have no default route (nothing may leave the LAN), so
	// each gets one for the service range alone, onto the LAN: an address the proxy does not
	// rewrite ends on the test's own switch.
	if err := routeServiceRange(t, h, c.serviceCIDR); err != nil {
		t.Fatalf("testcluster: node %s: %v", n.Name, err)
	}
	apiAddr := strings.TrimPrefix(c.apiURL, "https://")
	for _, addr := range append([]string{apiAddr}, c.opts.Loopback...) {
		if err := forward(t, h, addr); err != nil {
			t.Fatalf("testcluster: node %s: reaching %s: %v", n.Name, addr, err)
		}
	}
	return n
}

// AddNode starts one more node agent, on a new host of the LAN, as a machine joining the
// cluster, and waits until it is Ready.
func (c *Cluster) AddNode(t *testing.T) *Node {
	t.Helper()
	n := c.prepareNode(t, c.LAN.AddHost(t))
	if err := n.start(); err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	t.Cleanup(func() { n.stop(10 * time.Second) })
	// As in Start: pods go while the agent still runs.
	t.Cleanup(func() { c.deleteAllPods(t) })
	c.Nodes = append(c.Nodes, n)
	c.WaitNodesReady(t, 60*time.Second)
	c.readPodCIDRs(t)
	return n
}

// readPodCIDRs sets each Node.PodCIDR to what its Node holds (the allocated one with
// AllocatePodCIDRs).
func (c *Cluster) readPodCIDRs(t testing.TB) {
	if !c.opts.AllocatePodCIDRs {
		return
	}
	for _, n := range c.Nodes {
		node, err := c.Client.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("testcluster: node %s: %v", n.Name, err)
		}
		p, err := netip.ParsePrefix(node.Spec.PodCIDR)
		if err != nil {
			t.Fatalf("testcluster: node %s: pod CIDR %q: %v", n.Name, node.Spec.PodCIDR, err)
		}
		n.PodCIDR = p
	}
}

// dialNode is the API server's way to the node agents: it enters the namespace of the LAN host
// that owns the address.
func (c *Cluster) dialNode(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	for _, h := range c.LAN.Hosts {
		if h.IP.String() == host {
			return h.DialContext(ctx, network, address)
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// routeServiceRange routes cidr out of the host's LAN interface.
func routeServiceRange(t *testing.T, h *nettest.Host, cidr string) error {
	_, dst, err := net.ParseCIDR(cidr)
	if err != nil {
		return fmt.Errorf("service range %q: %w", cidr, err)
	}
	nl := h.Netlink(t)
	link, err := nl.LinkByName(h.Iface)
	if err != nil {
		return fmt.Errorf("LAN interface %s: %w", h.Iface, err)
	}
	if err := nl.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst, Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("route to the service range %s: %w", cidr, err)
	}
	return nil
}

// forward makes addr, a loopback address served in the test process's namespace, reachable at
// the same address inside the host's namespace.
func forward(t *testing.T, h *nettest.Host, addr string) error {
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(cs ...net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if conns == nil {
			return false
		}
		for _, c := range cs {
			conns[c] = true
		}
		return true
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			// This goroutine is not in the host's namespace: the dial reaches the test's loopback.
			out, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				in.Close()
				continue
			}
			if !track(in, out) {
				in.Close()
				out.Close()
				return
			}
			go splice(in, out)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		conns = nil
		mu.Unlock()
	})
	return nil
}

func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}

// WaitNodesReady waits until every node reports Ready.
func (c *Cluster) WaitNodesReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var notReady []string
		for _, n := range c.Nodes {
			node, err := c.Client.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
			if err != nil || !NodeReady(node) {
				notReady = append(notReady, n.Name)
			}
		}
		if len(notReady) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.DumpNodeLogs(t)
			t.Fatalf("testcluster: nodes not Ready after %v: %v", timeout, notReady)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// NodeReady says whether a Node's Ready condition is True.
func NodeReady(n *v1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// DumpNodeLogs shows the end of every node agent's log, which is what explains most failures.
func (c *Cluster) DumpNodeLogs(t testing.TB) {
	for _, n := range c.Nodes {
		b, err := os.ReadFile(n.LogPath)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		t.Logf("--- node agent %s (last %d lines of %s)\n%s", n.Name, len(lines), n.LogPath, strings.Join(lines, "\n"))
	}
}

// Node returns the node named name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}
