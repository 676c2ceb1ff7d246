package overlay

import (
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func mkNode(name, cidr, mac, ip string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{}}}
	if cidr != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	}
	if mac != "" {
		n.Annotations[AnnotationMAC] = mac
	}
	if ip != "" {
		n.Annotations[AnnotationPublicIP] = ip
	}
	return n
}

func TestPeers(t *testing.T) {
	self, selfCIDR, selfIP := "a", netip.MustParsePrefix("10.244.0.0/24"), netip.MustParseAddr("198.18.0.1")
	macB, macC := "02:00:00:00:00:0b", "02:00:00:00:00:0c"
	cases := []struct {
		name        string
		nodes       []*corev1.Node
		want        []string // "node cidr vtep mac ip"
		wantSkipped []string
	}{
		{name: "self is never a peer", nodes: []*corev1.Node{mkNode("a", "10.244.0.0/24", macB, "198.18.0.1")}},
		{name: "two peers sorted by name",
			nodes: []*corev1.Node{mkNode("c", "10.244.2.0/24", macC, "198.18.0.3"), mkNode("b", "10.244.1.0/24", macB, "198.18.0.2")},
			want:  []string{"b 10.244.1.0/24 10.244.1.0 02:00:00:00:00:0b 198.18.0.2", "c 10.244.2.0/24 10.244.2.0 02:00:00:00:00:0c 198.18.0.3"}},
		{name: "unmasked pod CIDR is masked",
			nodes: []*corev1.Node{mkNode("b", "10.244.1.7/24", macB, "198.18.0.2")},
			want:  []string{"b 10.244.1.0/24 10.244.1.0 02:00:00:00:00:0b 198.18.0.2"}},
		{name: "no pod CIDR yet", nodes: []*corev1.Node{mkNode("b", "", macB, "198.18.0.2")}, wantSkipped: []string{"b"}},
		{name: "no annotations yet", nodes: []*corev1.Node{mkNode("b", "10.244.1.0/24", "", "")}, wantSkipped: []string{"b"}},
		{name: "no public IP", nodes: []*corev1.Node{mkNode("b", "10.244.1.0/24", macB, "")}, wantSkipped: []string{"b"}},
		{name: "bad MAC", nodes: []*corev1.Node{mkNode("b", "10.244.1.0/24", "zz", "198.18.0.2")}, wantSkipped: []string{"b"}},
		{name: "loopback public IP", nodes: []*corev1.Node{mkNode("b", "10.244.1.0/24", macB, "127.0.0.1")}, wantSkipped: []string{"b"}},
		{name: "IPv6 public IP", nodes: []*corev1.Node{mkNode("b", "10.244.1.0/24", macB, "fd00::2")}, wantSkipped: []string{"b"}},
		{name: "IPv6 pod CIDR only", nodes: []*corev1.Node{mkNode("b", "fd00:1::/64", macB, "198.18.0.2")}, wantSkipped: []string{"b"}},
		{name: "overlaps own range", nodes: []*corev1.Node{mkNode("b", "10.244.0.0/16", macB, "198.18.0.2")}, wantSkipped: []string{"b"}},
		{name: "own public IP", nodes: []*corev1.Node{mkNode("b", "10.244.1.0/24", macB, "198.18.0.1")}, wantSkipped: []string{"b"}},
		{name: "two peers with one range: first by name wins",
			nodes: []*corev1.Node{mkNode("c", "10.244.1.0/24", macC, "198.18.0.3"), mkNode("b", "10.244.1.0/24", macB, "198.18.0.2")},
			want:  []string{"b 10.244.1.0/24 10.244.1.0 02:00:00:00:00:0b 198.18.0.2"}, wantSkipped: []string{"c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peers, skipped := Peers(self, selfCIDR, selfIP, tc.nodes)
			var got, gotSkipped []string
			for _, p := range peers {
				got = append(got, p.Node+" "+p.PodCIDR.String()+" "+p.VTEP.String()+" "+p.MAC.String()+" "+p.PublicIP.String())
			}
			for _, s := range skipped {
				if s.Reason == "" {
					t.Errorf("skipped %s without a reason", s.Node)
				}
				gotSkipped = append(gotSkipped, s.Node)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("peers = %q, want %q", got, tc.want)
			}
			if !reflect.DeepEqual(gotSkipped, tc.wantSkipped) {
				t.Errorf("skipped = %q, want %q", gotSkipped, tc.wantSkipped)
			}
		})
	}
}

func peer(name, cidr, mac, ip string) Peer {
	p, why := peerOf(mkNode(name, cidr, mac, ip))
	if why != "" {
		panic(why)
	}
	return p
}

func TestEntriesFor(t *testing.T) {
	e := entriesFor(peer("b", "10.244.1.0/24", "02:00:00:00:00:0b", "198.18.0.2"), 7)
	if e.route.Dst.String() != "10.244.1.0/24" || !e.route.Gw.Equal(net.ParseIP("10.244.1.0")) || e.route.LinkIndex != 7 ||
		e.route.Flags&int(netlink.FLAG_ONLINK) == 0 {
		t.Errorf("route = %+v, want 10.244.1.0/24 via 10.244.1.0 onlink dev 7", e.route)
	}
	if !e.neigh.IP.Equal(net.ParseIP("10.244.1.0")) || e.neigh.HardwareAddr.String() != "02:00:00:00:00:0b" ||
		e.neigh.State != netlink.NUD_PERMANENT || e.neigh.Family != unix.AF_INET || e.neigh.LinkIndex != 7 {
		t.Errorf("neighbour = %+v, want 10.244.1.0 lladdr 02:00:00:00:00:0b permanent", e.neigh)
	}
	if !e.fdb.IP.Equal(net.ParseIP("198.18.0.2")) || e.fdb.HardwareAddr.String() != "02:00:00:00:00:0b" ||
		e.fdb.Family != unix.AF_BRIDGE || e.fdb.Flags&netlink.NTF_SELF == 0 || e.fdb.State != netlink.NUD_PERMANENT {
		t.Errorf("fdb = %+v, want 02:00:00:00:00:0b dst 198.18.0.2 self permanent", e.fdb)
	}
}

func TestPlanSync(t *testing.T) {
	b := peer("b", "10.244.1.0/24", "02:00:00:00:00:0b", "198.18.0.2")
	c := peer("c", "10.244.2.0/24", "02:00:00:00:00:0c", "198.18.0.3")
	bMoved := peer("b", "10.244.1.0/24", "02:00:00:00:00:0b", "198.18.0.9")
	const link = 5
	have := func(ps ...Peer) ([]netlink.Route, []netlink.Neigh, []netlink.Neigh) {
		var rs []netlink.Route
		var ns, fs []netlink.Neigh
		for _, p := range ps {
			e := entriesFor(p, link)
			rs, ns, fs = append(rs, *e.route), append(ns, *e.neigh), append(fs, *e.fdb)
		}
		return rs, ns, fs
	}
	count := func(p syncPlan) [6]int {
		return [6]int{len(p.addRoutes), len(p.delRoutes), len(p.addNeighs), len(p.delNeighs), len(p.addFDB), len(p.delFDB)}
	}
	cases := []struct {
		name  string
		peers []Peer
		have  []Peer
		extra func(rs []netlink.Route, ns, fs []netlink.Neigh) ([]netlink.Route, []netlink.Neigh, []netlink.Neigh)
		want  [6]int // add/del routes, add/del neighbours, add/del FDB
	}{
		{name: "empty device, two peers", peers: []Peer{b, c}, want: [6]int{2, 0, 2, 0, 2, 0}},
		{name: "in step", peers: []Peer{b, c}, have: []Peer{b, c}},
		{name: "a peer left", peers: []Peer{b}, have: []Peer{b, c}, want: [6]int{0, 1, 0, 1, 0, 1}},
		{name: "all left", have: []Peer{b, c}, want: [6]int{0, 2, 0, 2, 0, 2}},
		{name: "a peer's IP changed: old FDB entry removed, new one added", peers: []Peer{bMoved}, have: []Peer{b},
			want: [6]int{0, 0, 0, 0, 1, 1}},
		{name: "kernel entries are left alone", peers: []Peer{b}, have: []Peer{b},
			extra: func(rs []netlink.Route, ns, fs []netlink.Neigh) ([]netlink.Route, []netlink.Neigh, []netlink.Neigh) {
				_, dst, _ := net.ParseCIDR("10.244.0.0/32")
				rs = append(rs, netlink.Route{LinkIndex: link, Dst: dst}) // no gateway
				ns = append(ns, netlink.Neigh{LinkIndex: link, IP: net.ParseIP("10.244.9.9"), State: netlink.NUD_REACHABLE})
				fs = append(fs, netlink.Neigh{LinkIndex: link, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 9}, State: netlink.NUD_REACHABLE})
				return rs, ns, fs
			}},
		{name: "a route without onlink is replaced", peers: []Peer{b}, have: []Peer{b},
			extra: func(rs []netlink.Route, ns, fs []netlink.Neigh) ([]netlink.Route, []netlink.Neigh, []netlink.Neigh) {
				rs[0].Flags = 0
				return rs, ns, fs
			}, want: [6]int{1, 0, 0, 0, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, ns, fs := have(tc.have...)
			if tc.extra != nil {
				rs, ns, fs = tc.extra(rs, ns, fs)
			}
			if got := count(planSync(tc.peers, link, rs, ns, fs)); got != tc.want {
				t.Errorf("plan = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range []string{"n0-abc123", "n1-abc123", "a-very-long-node-name.example.com", "N0-ABC123", ""} {
		d := DeviceName(n)
		if len(d) > 15 || len(d) < 10 {
			t.Errorf("DeviceName(%q) = %q: bad length", n, d)
		}
		if seen[d] {
			t.Errorf("DeviceName(%q) = %q collides", n, d)
		}
		seen[d] = true
		mac := DeviceMAC(n)
		if mac[0]&1 != 0 || mac[0]&2 == 0 {
			t.Errorf("DeviceMAC(%q) = %s: want unicast, locally administered", n, mac)
		}
		if DeviceMAC(n).String() != mac.String() {
			t.Errorf("DeviceMAC(%q) not stable", n)
		}
	}
}
