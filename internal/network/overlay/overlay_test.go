package overlay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/network"
	"github.com/skiff-dev/skiff/internal/network/nettest"
)

// testNode is one LAN host with a pod network, an overlay and one pod.
type testNode struct {
	host  *nettest.Host
	net   *network.Network
	ov    *Overlay
	pod   *nettest.Namespace
	podIP net.IP
}

func (n *testNode) peer() Peer {
	return Peer{Node: n.host.Name, PodCIDR: n.host.PodCIDR, VTEP: n.host.PodCIDR.Addr(), MAC: n.ov.MAC(), PublicIP: n.host.IP}
}

func startNode(t *testing.T, h *nettest.Host) *testNode {
	t.Helper()
	name := fmt.Sprintf("node%d", h.Index)
	ov, err := New(Config{NodeName: name, NodeIP: h.IP.AsSlice(), NetNS: h.Path, Bridge: "br0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ov.Close() })
	if ov.MTU() != 1450 {
		t.Errorf("MTU = %d, want 1450 (1500 less 50)", ov.MTU())
	}
	n, err := network.New(network.Config{BridgeName: "br0", PodCIDR: h.PodCIDR.String(), MTU: ov.MTU(),
		StateDir: filepath.Join(t.TempDir(), "net"), NetNS: h.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Setup(); err != nil {
		t.Fatal(err)
	}
	if err := ov.Setup(h.PodCIDR); err != nil {
		t.Fatal(err)
	}
	pod := nettest.NewNamespace(t, "pod")
	ip, err := n.Attach("pod-"+name, pod.Path)
	if err != nil {
		t.Fatal(err)
	}
	return &testNode{host: h, net: n, ov: ov, pod: pod, podIP: ip}
}

// sourceSeen connects from one pod to a listener in another and returns the client address the
// listener saw.
func sourceSeen(t *testing.T, from, to *testNode) (string, error) {
	t.Helper()
	ln, err := to.pod.Listen("tcp", net.JoinHostPort(to.podIP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- ""
			return
		}
		got <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := from.pod.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return "", err
	}
	c.Close()
	return <-got, nil
}

func TestOverlayAcrossHosts(t *testing.T) {
	nettest.RequireRoot(t)
	lan := nettest.NewLAN(t, 3)
	a, b := startNode(t, lan.Hosts[0]), startNode(t, lan.Hosts[1])

	if _, err := sourceSeen(t, a, b); err == nil {
		t.Fatal("pods on two nodes reached each other before the overlay had any peer")
	}
	for _, n := range []*testNode{a, b} {
		others := []Peer{a.peer(), b.peer()}
		var peers []Peer
		for _, p := range others {
			if p.Node != n.peer().Node {
				peers = append(peers, p)
			}
		}
		if err := n.ov.Sync(peers); err != nil {
			t.Fatal(err)
		}
		// Idempotent: a second sync changes nothing and fails nothing.
		if err := n.ov.Sync(peers); err != nil {
			t.Fatal(err)
		}
	}
	for _, pair := range [][2]*testNode{{a, b}, {b, a}} {
		src, err := sourceSeen(t, pair[0], pair[1])
		if err != nil {
			t.Fatalf("%s -> %s: %v", pair[0].podIP, pair[1].podIP, err)
		}
		if src != pair[0].podIP.String() {
			t.Errorf("%s -> %s: listener saw %s, want the pod's own address", pair[0].podIP, pair[1].podIP, src)
		}
	}
	// The node itself reaches a remote pod too (probes of a hostNetwork client, say).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ln, err := b.pod.Listen("tcp", net.JoinHostPort(b.podIP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	if c, err := a.host.DialContext(ctx, "tcp", ln.Addr().String()); err != nil {
		t.Errorf("node a -> pod on b: %v", err)
	} else {
		c.Close()
	}
	ln.Close()

	// A third node joins: once a knows it, their pods talk.
	c := startNode(t, lan.Hosts[2])
	if err := a.ov.Sync([]Peer{b.peer(), c.peer()}); err != nil {
		t.Fatal(err)
	}
	if err := c.ov.Sync([]Peer{a.peer(), b.peer()}); err != nil {
		t.Fatal(err)
	}
	if src, err := sourceSeen(t, a, c); err != nil || src != a.podIP.String() {
		t.Errorf("a -> c after c joined: saw %q, %v", src, err)
	}
	if got := countEntries(t, a); got != [3]int{2, 2, 2} {
		t.Errorf("a's routes/neighbours/FDB = %v, want 2 of each", got)
	}

	// b leaves: a keeps nothing of it.
	if err := a.ov.Sync([]Peer{c.peer()}); err != nil {
		t.Fatal(err)
	}
	if got := countEntries(t, a); got != [3]int{1, 1, 1} {
		t.Errorf("after b left, a's routes/neighbours/FDB = %v, want 1 of each", got)
	}
	if _, err := sourceSeen(t, a, b); err == nil {
		t.Error("a still reaches b's pod after b left its peers")
	}

	// Teardown leaves no device, route or entry.
	if err := a.ov.Teardown(); err != nil {
		t.Fatal(err)
	}
	if err := a.ov.Teardown(); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
	h := a.host.Netlink(t)
	if _, err := h.LinkByName(a.ov.Device()); err == nil {
		t.Error("VXLAN device still there after Teardown")
	}
	routes, _ := h.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst != nil && strings.HasPrefix(r.Dst.String(), "198.19.") && r.Gw != nil {
			t.Errorf("route left after Teardown: %v", r)
		}
	}
}

func TestSetupReplacesForeignSettings(t *testing.T) {
	nettest.RequireRoot(t)
	lan := nettest.NewLAN(t, 1)
	h := lan.Hosts[0]
	mk := func(port int) *Overlay {
		ov, err := New(Config{NodeName: "x", NodeIP: h.IP.AsSlice(), NetNS: h.Path, Port: port,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ov.Close() })
		return ov
	}
	if err := mk(4789).Setup(h.PodCIDR); err != nil {
		t.Fatal(err)
	}
	ov := mk(0)
	// An earlier pod CIDR's address must go as well.
	if err := ov.Setup(netip.MustParsePrefix("198.19.200.0/24")); err != nil {
		t.Fatal(err)
	}
	if err := ov.Setup(h.PodCIDR); err != nil {
		t.Fatal(err)
	}
	nl := h.Netlink(t)
	l, err := nl.LinkByName(ov.Device())
	if err != nil {
		t.Fatal(err)
	}
	vx := l.(*netlink.Vxlan)
	if vx.Port != DefaultPort || vx.VxlanId != DefaultVNI || vx.Learning || vx.HardwareAddr.String() != ov.MAC().String() || vx.MTU != 1450 {
		t.Errorf("device = port %d vni %d learning %v mac %s mtu %d", vx.Port, vx.VxlanId, vx.Learning, vx.HardwareAddr, vx.MTU)
	}
	addrs, _ := nl.AddrList(l, unix.AF_INET)
	if len(addrs) != 1 || addrs[0].IPNet.String() != h.PodCIDR.Addr().String()+"/32" {
		t.Errorf("addresses = %v, want only %s/32", addrs, h.PodCIDR.Addr())
	}
}

func TestNoUplink(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNamespace(t, "bare")
	for _, ip := range []string{"127.0.0.1", "198.18.0.77"} {
		if _, err := Uplink(ns.Path, net.ParseIP(ip)); err == nil {
			t.Errorf("Uplink(%s) found one in a namespace with only loopback", ip)
		}
		if _, err := New(Config{NodeName: "x", NodeIP: net.ParseIP(ip), NetNS: ns.Path}); err == nil {
			t.Errorf("New with node IP %s: no error", ip)
		}
	}
}

// countEntries counts the overlay's routes, permanent neighbours and permanent FDB entries.
func countEntries(t *testing.T, n *testNode) [3]int {
	t.Helper()
	h := n.host.Netlink(t)
	l, err := h.LinkByName(n.ov.Device())
	if err != nil {
		t.Fatal(err)
	}
	var out [3]int
	routes, _ := h.RouteList(l, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Gw != nil {
			out[0]++
		}
	}
	neighs, _ := h.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	for _, x := range neighs {
		if x.State&netlink.NUD_PERMANENT != 0 {
			out[1]++
		}
	}
	fdbs, _ := h.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
	for _, x := range fdbs {
		if x.State&netlink.NUD_PERMANENT != 0 && x.IP != nil {
			out[2]++
		}
	}
	return out
}
