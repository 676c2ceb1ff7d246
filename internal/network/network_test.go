package network_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/skiff-dev/skiff/internal/network"
	"github.com/skiff-dev/skiff/internal/network/ipam"
	"github.com/skiff-dev/skiff/internal/network/nettest"
)

const port = 8080

// pod is a test pod: a namespace of its own, attached under a UID, serving its name on port.
type pod struct {
	uid  string
	ns   *nettest.Namespace
	ip   net.IP
	stop func() // closes the listener serve started
}

func newPod(t *testing.T, uid string) *pod {
	return &pod{uid: uid, ns: nettest.NewNamespace(t, uid)}
}

func (p *pod) addr() string { return net.JoinHostPort(p.ip.String(), fmt.Sprint(port)) }

// serve listens on the pod's address inside the pod and answers every connection with the UID.
func (p *pod) serve(t *testing.T) {
	t.Helper()
	l, err := p.ns.Listen("tcp", p.addr())
	if err != nil {
		t.Fatalf("listen in pod %s: %v", p.uid, err)
	}
	t.Cleanup(func() { l.Close() })
	p.stop = func() { l.Close() }
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := io.WriteString(c, p.uid+"\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// ask connects from ns to addr and returns the first answer line.
func ask(ns *nettest.Namespace, addr string) (string, error) {
	return askWithin(ns, addr, 3*time.Second)
}

// unreachable is for addresses expected to be unreachable: a short wait is enough to tell.
func unreachable(ns *nettest.Namespace, addr string) bool {
	_, err := askWithin(ns, addr, 300*time.Millisecond)
	return err != nil
}

func askWithin(ns *nettest.Namespace, addr string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := ns.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return roundTrip(c)
}

func roundTrip(c net.Conn) (string, error) {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "who\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func mustReach(t *testing.T, from *nettest.Namespace, to *pod) {
	t.Helper()
	got, err := ask(from, to.addr())
	if err != nil || got != to.uid {
		t.Errorf("%s -> pod %s (%s): %q, %v", from.Name, to.uid, to.addr(), got, err)
	}
}

func linkNames(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names
}

func newNetwork(t *testing.T, cfg network.Config) *network.Network {
	t.Helper()
	n, err := network.New(cfg)
	if err != nil {
		t.Fatalf("network.New: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func attach(t *testing.T, n *network.Network, p *pod) {
	t.Helper()
	ip, err := n.Attach(p.uid, p.ns.Path)
	if err != nil {
		t.Fatalf("Attach(%s): %v", p.uid, err)
	}
	p.ip = ip
}

func TestPodNetwork(t *testing.T) {
	nettest.RequireRoot(t)
	t.Run("lifecycle", testLifecycle)
	if left := nettest.Remaining(t); len(left) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
	}
}

func testLifecycle(t *testing.T) {
	// Pods and networks outlive the subtests below, so they belong to top, not to a subtest.
	top := t
	host := nettest.NewLAN(t, 1).Hosts[0]
	hostNL := host.Netlink(t)
	// A /29: .0 network, .1 gateway, .7 broadcast, five pod addresses .2 to .6.
	cfg := network.Config{
		BridgeName: network.BridgeName(host.Name),
		PodCIDR:    "198.19.0.0/29",
		StateDir:   t.TempDir(),
		NetNS:      host.Path,
	}
	cidr := netip.MustParsePrefix(cfg.PodCIDR)
	n := newNetwork(t, cfg)
	for range 2 { // Setup is idempotent
		if err := n.Setup(); err != nil {
			t.Fatalf("Setup: %v", err)
		}
	}
	br, err := hostNL.LinkByName(cfg.BridgeName)
	if err != nil {
		t.Fatalf("bridge not in the node namespace: %v", err)
	}
	addrs, _ := hostNL.AddrList(br, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "198.19.0.1/29" {
		t.Fatalf("bridge addresses = %v, want only 198.19.0.1/29", addrs)
	}

	mac := br.Attrs().HardwareAddr.String()
	pods := []*pod{newPod(t, "pod-a"), newPod(t, "pod-b"), newPod(t, "pod-c")}
	seen := map[string]string{}
	for _, p := range pods {
		attach(t, n, p)
		a, _ := netip.AddrFromSlice(p.ip)
		if !cidr.Contains(a) || a == cidr.Addr() || a.String() == "198.19.0.1" || a.String() == "198.19.0.7" {
			t.Errorf("pod %s got %s: outside %s or reserved", p.uid, a, cidr)
		}
		if other, dup := seen[a.String()]; dup {
			t.Errorf("pods %s and %s share %s", other, p.uid, a)
		}
		seen[a.String()] = p.uid
		p.serve(t)
	}

	if br, _ := hostNL.LinkByName(cfg.BridgeName); br.Attrs().HardwareAddr.String() != mac {
		t.Errorf("bridge MAC changed from %s to %s as pods joined", mac, br.Attrs().HardwareAddr)
	}

	t.Run("pod namespace", func(t *testing.T) {
		pn := pods[0].ns.Netlink(t)
		if got := linkNames(t, pn); strings.Join(got, ",") != "eth0,lo" {
			t.Errorf("pod links = %v, want [eth0 lo]", got)
		}
		for _, name := range []string{"lo", "eth0"} {
			l, err := pn.LinkByName(name)
			if err != nil || l.Attrs().Flags&net.FlagUp == 0 {
				t.Errorf("pod %s not up: %v", name, err)
			}
		}
		routes, err := pn.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		var gw string
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				gw = r.Gw.String()
			}
		}
		if gw != "198.19.0.1" {
			t.Errorf("pod default route via %q, want 198.19.0.1 (routes %v)", gw, routes)
		}
	})

	t.Run("connectivity", func(t *testing.T) {
		for i, from := range pods {
			mustReach(t, from.ns, pods[(i+1)%len(pods)]) // pod to pod over the bridge
			mustReach(t, host.Namespace, from)           // node to pod, as probes do
		}
	})

	t.Run("attach again", func(t *testing.T) {
		before := linkNames(t, hostNL)
		ip, err := n.Attach(pods[0].uid, pods[0].ns.Path)
		if err != nil || !ip.Equal(pods[0].ip) {
			t.Fatalf("Attach again = %s, %v; want %s", ip, err, pods[0].ip)
		}
		if after := linkNames(t, hostNL); !slices.Equal(before, after) {
			t.Errorf("links changed on a repeated Attach: %v -> %v", before, after)
		}
		// Half undone (address gone, link down): Attach repairs it.
		pn := pods[0].ns.Netlink(t)
		eth, _ := pn.LinkByName("eth0")
		addrs, _ := pn.AddrList(eth, netlink.FAMILY_V4)
		for _, a := range addrs {
			pn.AddrDel(eth, &a)
		}
		pn.LinkSetDown(eth)
		if !unreachable(host.Namespace, pods[0].addr()) {
			t.Fatal("pod still reachable with its address removed: the repair check would prove nothing")
		}
		if ip, err := n.Attach(pods[0].uid, pods[0].ns.Path); err != nil || !ip.Equal(pods[0].ip) {
			t.Fatalf("Attach to repair = %s, %v", ip, err)
		}
		mustReach(t, host.Namespace, pods[0])
	})

	t.Run("detach and reuse", func(t *testing.T) {
		b := pods[1]
		if err := n.Detach(b.uid, b.ns.Path); err != nil {
			t.Fatalf("Detach: %v", err)
		}
		if _, err := hostNL.LinkByName(network.HostVethName(b.uid)); err == nil {
			t.Error("host veth still there after Detach")
		}
		if got := linkNames(t, b.ns.Netlink(t)); strings.Join(got, ",") != "lo" {
			t.Errorf("pod links after Detach = %v, want [lo]", got)
		}
		if !unreachable(host.Namespace, b.addr()) {
			t.Error("detached pod still reachable")
		}
		if err := n.Detach(b.uid, b.ns.Path); err != nil {
			t.Errorf("second Detach: %v", err)
		}
		allocs, _ := n.Allocations()
		for _, a := range allocs {
			if a.Owner == b.uid {
				t.Errorf("%s still allocated to the detached pod", a.IP)
			}
		}
		// Fill the range: the released address comes back once the others are taken.
		pods = slices.Delete(pods, 1, 2)
		d, e, f := newPod(top, "pod-d"), newPod(top, "pod-e"), newPod(top, "pod-f")
		for _, p := range []*pod{d, e, f} {
			attach(t, n, p)
			p.serve(top)
		}
		if !f.ip.Equal(b.ip) {
			t.Errorf("last free address went to pod-f as %s, want the released %s", f.ip, b.ip)
		}
		// pod-f holds pod-b's old address with a new MAC: the node and pod-a, which both talked to
		// pod-b, must reach pod-f at once rather than after their ARP entries expire.
		mustReach(t, host.Namespace, f)
		mustReach(t, pods[0].ns, f)
		g := newPod(top, "pod-g")
		if _, err := n.Attach(g.uid, g.ns.Path); !errors.Is(err, ipam.ErrExhausted) {
			t.Errorf("Attach on a full range: %v, want ErrExhausted", err)
		}
		pods = append(pods, d, e, f)
	})

	t.Run("detach after the sandbox is gone", func(t *testing.T) {
		d := pods[2]
		// The listener's socket would keep the namespace, and so the veth pair, alive.
		d.stop()
		if err := d.ns.Remove(); err != nil {
			t.Fatal(err)
		}
		// The kernel frees a namespace asynchronously, and the veth pair with it.
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := hostNL.LinkByName(network.HostVethName(d.uid)); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the pod's veth outlived its namespace: something still holds the namespace")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := n.Detach(d.uid, d.ns.Path); err != nil {
			t.Fatalf("Detach with the namespace gone: %v", err)
		}
		if _, err := hostNL.LinkByName(network.HostVethName(d.uid)); err == nil {
			t.Error("host veth still there")
		}
		if allocs, _ := n.Allocations(); slices.ContainsFunc(allocs, func(a ipam.Allocation) bool { return a.Owner == d.uid }) {
			t.Error("address still allocated")
		}
		// Its address is free again: one more pod fits the full range.
		p := newPod(top, "pod-i")
		attach(t, n, p)
		if !p.ip.Equal(d.ip) {
			t.Errorf("new pod got %s, want the freed %s", p.ip, d.ip)
		}
		p.serve(top)
		pods[2] = p
	})

	t.Run("restart adopts", func(t *testing.T) {
		// A connection open across the restart must survive it untouched.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := host.DialContext(ctx, "tcp", pods[0].addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got, err := roundTrip(conn); err != nil || got != pods[0].uid {
			t.Fatalf("before restart: %q, %v", got, err)
		}
		brBefore, _ := hostNL.LinkByName(cfg.BridgeName)
		vethBefore, _ := hostNL.LinkByName(network.HostVethName(pods[0].uid))
		n.Close()
		if err := n.Setup(); !errors.Is(err, network.ErrClosed) {
			t.Errorf("Setup after Close: %v, want ErrClosed", err)
		}

		n2 := newNetwork(top, cfg)
		if err := n2.Setup(); err != nil {
			t.Fatalf("Setup after restart: %v", err)
		}
		brAfter, _ := hostNL.LinkByName(cfg.BridgeName)
		vethAfter, _ := hostNL.LinkByName(network.HostVethName(pods[0].uid))
		if brAfter.Attrs().Index != brBefore.Attrs().Index || vethAfter.Attrs().Index != vethBefore.Attrs().Index {
			t.Error("restart recreated the bridge or a pod's veth")
		}
		if vethAfter.Attrs().MasterIndex != brAfter.Attrs().Index {
			t.Error("pod veth left the bridge on restart")
		}
		if got, err := roundTrip(conn); err != nil || got != pods[0].uid {
			t.Errorf("connection across restart: %q, %v", got, err)
		}
		for _, p := range pods {
			mustReach(t, host.Namespace, p)
			if ip, err := n2.Attach(p.uid, p.ns.Path); err != nil || !ip.Equal(p.ip) {
				t.Errorf("Attach(%s) after restart = %s, %v; want %s", p.uid, ip, err, p.ip)
			}
		}
		// Every address is in use: a restarted network must not hand any out again.
		h := newPod(top, "pod-h")
		if ip, err := n2.Attach(h.uid, h.ns.Path); !errors.Is(err, ipam.ErrExhausted) {
			t.Errorf("Attach after restart on a full range = %s, %v; want ErrExhausted", ip, err)
		}
		n = n2
	})

	t.Run("teardown", func(t *testing.T) {
		for range 2 { // Teardown is idempotent
			if err := n.Teardown(); err != nil {
				t.Fatalf("Teardown: %v", err)
			}
		}
		if got := linkNames(t, hostNL); strings.Join(got, ",") != "eth0,lo" {
			t.Errorf("node links after Teardown = %v, want [eth0 lo]", got)
		}
		for _, p := range pods {
			if got := linkNames(t, p.ns.Netlink(t)); strings.Join(got, ",") != "lo" {
				t.Errorf("pod %s links after Teardown = %v, want [lo]", p.uid, got)
			}
		}
		if allocs, err := n.Allocations(); err != nil || len(allocs) != 0 {
			t.Errorf("allocations after Teardown = %v, %v", allocs, err)
		}
	})
}

func TestConcurrentAttach(t *testing.T) {
	nettest.RequireRoot(t)
	host := nettest.NewLAN(t, 1).Hosts[0]
	n := newNetwork(t, network.Config{
		BridgeName: network.BridgeName(host.Name),
		PodCIDR:    host.PodCIDR.String(),
		StateDir:   t.TempDir(),
		NetNS:      host.Path,
	})
	if err := n.Setup(); err != nil {
		t.Fatal(err)
	}
	pods := make([]*pod, 12)
	for i := range pods {
		pods[i] = newPod(t, fmt.Sprintf("pod-%d", i))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.ip, errs[i] = n.Attach(p.uid, p.ns.Path)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, p := range pods {
		if errs[i] != nil {
			t.Fatalf("Attach(%s): %v", p.uid, errs[i])
		}
		if seen[p.ip.String()] {
			t.Errorf("address %s handed out twice", p.ip)
		}
		seen[p.ip.String()] = true
	}
	pods[0].serve(t)
	pods[len(pods)-1].serve(t)
	mustReach(t, pods[len(pods)-1].ns, pods[0])
	mustReach(t, pods[0].ns, pods[len(pods)-1])
	if err := n.Teardown(); err != nil {
		t.Fatal(err)
	}
}

// A pod must be usable when Attach returns: the kubelet probes it and reports its IP right away.
// A packet sent before the kernel has brought the new links into operation is dropped and its ARP
// retried only after a second, so a first try well under a second must succeed.
func TestReachableRightAfterAttach(t *testing.T) {
	nettest.RequireRoot(t)
	host := nettest.NewLAN(t, 1).Hosts[0]
	n := newNetwork(t, network.Config{
		BridgeName: network.BridgeName(host.Name),
		PodCIDR:    host.PodCIDR.String(),
		StateDir:   t.TempDir(),
		NetNS:      host.Path,
	})
	if err := n.Setup(); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		p := newPod(t, fmt.Sprintf("pod-%d", i))
		// Listening needs the address, so it starts after Attach; it adds microseconds.
		attach(t, n, p)
		p.serve(t)
		got, err := askWithin(host.Namespace, p.addr(), 500*time.Millisecond)
		if err != nil || got != p.uid {
			t.Errorf("pod %d: first try from the node right after Attach: %q, %v", i, got, err)
		}
	}
}

func TestHostsDoNotInterfere(t *testing.T) {
	nettest.RequireRoot(t)
	lan := nettest.NewLAN(t, 2)
	nets := make([]*network.Network, 2)
	pods := make([]*pod, 2)
	for i, h := range lan.Hosts {
		nets[i] = newNetwork(t, network.Config{
			BridgeName: network.BridgeName(h.Name),
			PodCIDR:    h.PodCIDR.String(),
			StateDir:   t.TempDir(),
			NetNS:      h.Path,
		})
		if err := nets[i].Setup(); err != nil {
			t.Fatalf("host %d Setup: %v", i, err)
		}
		pods[i] = newPod(t, fmt.Sprintf("pod-on-%d", i))
		attach(t, nets[i], pods[i])
		pods[i].serve(t)
		if a, _ := netip.AddrFromSlice(pods[i].ip); !h.PodCIDR.Contains(a) {
			t.Errorf("pod on host %d got %s outside its CIDR %s", i, a, h.PodCIDR)
		}
	}
	for i, h := range lan.Hosts {
		mustReach(t, h.Namespace, pods[i])
		// The other host's pods are another node's business: no route from here.
		if !unreachable(h.Namespace, pods[1-i].addr()) {
			t.Errorf("host %d reached pod of host %d without any cross-node routing", i, 1-i)
		}
		// Each bridge lives only in its own host.
		if _, err := h.Netlink(t).LinkByName(network.BridgeName(lan.Hosts[1-i].Name)); err == nil {
			t.Errorf("host %d holds host %d's bridge", i, 1-i)
		}
	}
	// A pod reaches its node's LAN address through the gateway (local delivery, no forwarding).
	l, err := lan.Hosts[0].Listen("tcp", netip.AddrPortFrom(lan.Hosts[0].IP, port).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			bufio.NewReader(c).ReadString('\n')
			io.WriteString(c, "node-0\n")
			c.Close()
		}
	}()
	if got, err := ask(pods[0].ns, l.Addr().String()); err != nil || got != "node-0" {
		t.Errorf("pod -> its node's LAN address: %q, %v", got, err)
	}

	// The node's own namespace passed as a pod's is refused, and its eth0 left alone.
	if _, err := nets[0].Attach("host-network-pod", lan.Hosts[0].Path); err == nil {
		t.Error("Attach into the node's own namespace succeeded")
	}
	if allocs, _ := nets[0].Allocations(); len(allocs) != 1 {
		t.Errorf("a refused Attach left an allocation: %v", allocs)
	}
	if err := nets[0].Detach("host-network-pod", lan.Hosts[0].Path); err != nil {
		t.Errorf("Detach of a never attached pod: %v", err)
	}
	if _, err := lan.Hosts[0].Netlink(t).LinkByName("eth0"); err != nil {
		t.Fatalf("node lost its eth0: %v", err)
	}
	mustReach(t, lan.Hosts[1].Namespace, &pod{uid: "node-0", ip: lan.Hosts[0].IP.AsSlice()})

	// Tearing one node's network down leaves the other's alone.
	if err := nets[1].Teardown(); err != nil {
		t.Fatal(err)
	}
	mustReach(t, lan.Hosts[0].Namespace, pods[0])
	if _, err := lan.Hosts[0].Netlink(t).LinkByName(network.BridgeName(lan.Hosts[0].Name)); err != nil {
		t.Errorf("host 0 lost its bridge when host 1 tore down: %v", err)
	}
}
