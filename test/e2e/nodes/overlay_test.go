package nodes

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/network/nettest"
	"github.com/skiff-dev/skiff/internal/network/overlay"
	"github.com/skiff-dev/skiff/internal/testcluster"
)

// TestOverlay: nodes started without a pod CIDR get one from the node IPAM controller and join a
// VXLAN overlay; a pod reaches a pod on another node by IP with its own address as the source; a
// node that joins later is reachable and one that is deleted leaves no route, neighbour or FDB
// entry behind on the others; nothing of the overlay is ever in the machine's own namespace.
func TestOverlay(t *testing.T) {
	nettest.RequireRoot(t)
	rootBefore := rootOverlayState(t)
	t.Cleanup(func() {
		if after := rootOverlayState(t); after != rootBefore {
			t.Errorf("the machine's namespace changed: %q before, %q after", rootBefore, after)
		}
	})
	start := time.Now()
	c := testcluster.Start(t, testcluster.Options{Nodes: 2, AllocatePodCIDRs: true})
	t.Logf("2 nodes with allocated pod CIDRs Ready in %v", time.Since(start).Round(time.Millisecond))
	a, b := c.Nodes[0], c.Nodes[1]
	if a.PodCIDR == b.PodCIDR || !nettest.ClusterCIDR.Contains(a.PodCIDR.Addr()) || !nettest.ClusterCIDR.Contains(b.PodCIDR.Addr()) {
		t.Fatalf("pod CIDRs %s and %s: want two different ranges of %s", a.PodCIDR, b.PodCIDR, nettest.ClusterCIDR)
	}
	for _, n := range c.Nodes {
		waitAnnotations(t, c, n)
		if mtu := linkMTU(t, n, n.Bridge); mtu != 1450 {
			t.Errorf("node %s: bridge MTU %d, want 1450 (uplink 1500 less VXLAN's 50)", n.Name, mtu)
		}
	}

	ns := c.Namespace(t, "overlay")
	pods := map[string]*v1.Pod{}
	run := func(n *testcluster.Node) *v1.Pod {
		name := "web-" + n.Name
		c.CreatePod(t, ns, n, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1.PodSpec{Containers: []v1.Container{c.Testserver("app")}}})
		p := c.WaitRunning(t, ns, name)
		if ip, err := netip.ParseAddr(p.Status.PodIP); err != nil || !n.PodCIDR.Contains(ip) {
			t.Errorf("pod on %s has IP %q, want one in its pod CIDR %s", n.Name, p.Status.PodIP, n.PodCIDR)
		}
		pods[n.Name] = p
		return p
	}
	pa, pb := run(a), run(b)
	reach(t, c, ns, pa, pb)
	reach(t, c, ns, pb, pa)

	// A node that joins later.
	n3 := c.AddNode(t)
	waitAnnotations(t, c, n3)
	pc := run(n3)
	reach(t, c, ns, pa, pc)
	reach(t, c, ns, pc, pb)
	for _, n := range []*testcluster.Node{a, b} {
		waitPeerEntries(t, n, n3, true)
	}

	// It leaves: its pod goes, its agent stops, its Node is deleted.
	if err := c.Client.CoreV1().Pods(ns).Delete(context.Background(), pc.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.WaitGone(t, ns, pc.Name, time.Minute)
	n3.Stop(t)
	if err := c.Client.CoreV1().Nodes().Delete(context.Background(), n3.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testcluster.Node{a, b} {
		waitPeerEntries(t, n, n3, false)
	}
	// The others still talk.
	reach(t, c, ns, pa, pb)
}

// reach fetches from one pod a page of another by IP and checks, in the server's log, that the
// request came from the client pod's own address.
func reach(t *testing.T, c *testcluster.Cluster, ns string, from, to *v1.Pod) {
	t.Helper()
	url := "http://" + net.JoinHostPort(to.Status.PodIP, "8080") + "/hostname"
	deadline := time.Now().Add(20 * time.Second)
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
	logs := c.Logs(t, ns, to.Name, "app")
	if !strings.Contains(logs, "/hostname from "+from.Status.PodIP+":") {
		t.Errorf("%s's log shows no request from %s (source address not preserved?):\n%s", to.Name, from.Status.PodIP, logs)
	}
}

// waitAnnotations waits for the node to publish its end of the overlay.
func waitAnnotations(t *testing.T, c *testcluster.Cluster, n *testcluster.Node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		node, err := c.Client.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
		if err == nil && node.Annotations[overlay.AnnotationPublicIP] == n.IP.String() &&
			node.Annotations[overlay.AnnotationMAC] == overlay.DeviceMAC(n.Name).String() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: overlay annotations not published: %v (%v)", n.Name, node.GetAnnotations(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPeerEntries waits until n has (present) or has not a route to peer's pod CIDR, a neighbour
// entry for its VTEP and an FDB entry for its MAC on n's VXLAN device.
func waitPeerEntries(t *testing.T, n, peer *testcluster.Node, present bool) {
	t.Helper()
	h := n.Host.Netlink(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		route, neigh, fdb := peerEntries(t, h, n, peer)
		if route == present && neigh == present && fdb == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s, entries for %s (%s): route %v, neighbour %v, FDB %v; want all %v",
				n.Name, peer.Name, peer.PodCIDR, route, neigh, fdb, present)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func peerEntries(t *testing.T, h *netlink.Handle, n, peer *testcluster.Node) (route, neigh, fdb bool) {
	dev, err := h.LinkByName(overlay.DeviceName(n.Name))
	if err != nil {
		t.Fatalf("node %s: VXLAN device: %v", n.Name, err)
	}
	routes, _ := h.RouteList(dev, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == peer.PodCIDR.String() && r.Gw.Equal(peer.PodCIDR.Addr().AsSlice()) {
			route = true
		}
	}
	neighs, _ := h.NeighList(dev.Attrs().Index, netlink.FAMILY_V4)
	for _, x := range neighs {
		if x.IP.Equal(peer.PodCIDR.Addr().AsSlice()) && x.HardwareAddr.String() == overlay.DeviceMAC(peer.Name).String() {
			neigh = true
		}
	}
	fdbs, _ := h.NeighList(dev.Attrs().Index, unix.AF_BRIDGE)
	for _, x := range fdbs {
		if x.HardwareAddr.String() == overlay.DeviceMAC(peer.Name).String() && x.IP.Equal(peer.IP.AsSlice()) {
			fdb = true
		}
	}
	return route, neigh, fdb
}

func linkMTU(t *testing.T, n *testcluster.Node, name string) int {
	t.Helper()
	l, err := n.Host.Netlink(t).LinkByName(name)
	if err != nil {
		t.Fatalf("node %s: %s: %v", n.Name, name, err)
	}
	return l.Attrs().MTU
}

// rootOverlayState summarises the VXLAN devices and the routes into the test ranges of the
// machine's own namespace, which no test may change.
func rootOverlayState(t *testing.T) string {
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, l := range links {
		if l.Type() == "vxlan" {
			parts = append(parts, "vxlan "+l.Attrs().Name)
		}
	}
	routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst != nil && nettest.ClusterCIDR.Contains(netip.MustParseAddr(r.Dst.IP.String())) {
			parts = append(parts, "route "+r.Dst.String())
		}
	}
	return strings.Join(parts, ",")
}
