package overlay

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// The annotations a node publishes about its end of the overlay (flannel's are
// flannel.alpha.coreos.com/backend-data and .../public-ip).
const (
	AnnotationMAC      = "skiff.dev/vxlan-mac"
	AnnotationPublicIP = "skiff.dev/public-ip"
)

// Peer is another node as the overlay needs it.
type Peer struct {
	Node     string
	PodCIDR  netip.Prefix
	VTEP     netip.Addr // the first address of PodCIDR, held by the peer's VXLAN device
	MAC      net.HardwareAddr
	PublicIP netip.Addr // where its VXLAN packets go
}

// Skipped is a Node left out of the overlay, and why (it has not published its end yet, say).
type Skipped struct {
	Node   string
	Reason string
}

// Peers computes the overlay's peers from the Nodes: every node but self with an IPv4 pod CIDR and
// both annotations. A node whose pod CIDR overlaps self's, or whose public IP is self's, is
// skipped: routing to it would take over the node's own traffic. The result is sorted by name.
func Peers(self string, selfCIDR netip.Prefix, selfIP netip.Addr, nodes []*corev1.Node) ([]Peer, []Skipped) {
	var peers []Peer
	var skipped []Skipped
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		p, why := peerOf(n)
		switch {
		case why != "":
		case selfCIDR.IsValid() && p.PodCIDR.Overlaps(selfCIDR):
			why = fmt.Sprintf("pod CIDR %s overlaps this node's %s", p.PodCIDR, selfCIDR)
		case p.PublicIP == selfIP:
			why = fmt.Sprintf("public IP %s is this node's", p.PublicIP)
		}
		if why != "" {
			skipped = append(skipped, Skipped{Node: n.Name, Reason: why})
			continue
		}
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b Peer) int { return strings.Compare(a.Node, b.Node) })
	// Two peers with overlapping ranges (a misconfiguration) would fight over one route: the
	// first by name wins, the other is skipped.
	kept := peers[:0]
	for _, p := range peers {
		if i := slices.IndexFunc(kept, func(k Peer) bool { return k.PodCIDR.Overlaps(p.PodCIDR) }); i >= 0 {
			skipped = append(skipped, Skipped{Node: p.Node, Reason: fmt.Sprintf("pod CIDR %s overlaps node %s's", p.PodCIDR, kept[i].Node)})
			continue
		}
		kept = append(kept, p)
	}
	return kept, skipped
}

func peerOf(n *corev1.Node) (Peer, string) {
	cidr, ok := podCIDR(n)
	if !ok {
		return Peer{}, "no IPv4 pod CIDR"
	}
	macText, ok := n.Annotations[AnnotationMAC]
	if !ok {
		return Peer{}, "no " + AnnotationMAC + " annotation (overlay not up there yet)"
	}
	mac, err := net.ParseMAC(macText)
	if err != nil || len(mac) != 6 {
		return Peer{}, fmt.Sprintf("bad %s %q", AnnotationMAC, macText)
	}
	ipText, ok := n.Annotations[AnnotationPublicIP]
	if !ok {
		return Peer{}, "no " + AnnotationPublicIP + " annotation"
	}
	ip, err := netip.ParseAddr(ipText)
	if err != nil || !ip.Is4() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() {
		return Peer{}, fmt.Sprintf("bad %s %q", AnnotationPublicIP, ipText)
	}
	return Peer{Node: n.Name, PodCIDR: cidr, VTEP: cidr.Addr(), MAC: mac, PublicIP: ip}, ""
}

// podCIDR is the Node's first IPv4 pod CIDR.
func podCIDR(n *corev1.Node) (netip.Prefix, bool) {
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err == nil && p.Addr().Is4() && p.Bits() < 32 {
			return p.Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// entries are the kernel objects one peer needs on the VXLAN device with index link.
type entries struct {
	route *netlink.Route
	neigh *netlink.Neigh // VTEP address -> VTEP MAC
	fdb   *netlink.Neigh // VTEP MAC -> public IP
}

func entriesFor(p Peer, link int) entries {
	return entries{
		route: &netlink.Route{
			LinkIndex: link,
			Dst:       &net.IPNet{IP: p.PodCIDR.Addr().AsSlice(), Mask: net.CIDRMask(p.PodCIDR.Bits(), 32)},
			Gw:        p.VTEP.AsSlice(),
			Flags:     int(netlink.FLAG_ONLINK),
			Scope:     netlink.SCOPE_UNIVERSE,
			Protocol:  routeProtocol,
		},
		neigh: &netlink.Neigh{
			LinkIndex:    link,
			Family:       unix.AF_INET,
			State:        netlink.NUD_PERMANENT,
			Type:         unix.RTN_UNICAST,
			IP:           p.VTEP.AsSlice(),
			HardwareAddr: p.MAC,
		},
		fdb: &netlink.Neigh{
			LinkIndex:    link,
			Family:       unix.AF_BRIDGE,
			State:        netlink.NUD_PERMANENT,
			Flags:        netlink.NTF_SELF,
			IP:           p.PublicIP.AsSlice(),
			HardwareAddr: p.MAC,
		},
	}
}

// routeProtocol marks the overlay's routes (a value from the range left for routing daemons), so
// that they are told apart from anything else on the device.
const routeProtocol = netlink.RouteProtocol(0x5d)

// DeviceName derives the VXLAN device's name from the node name: "vx", up to five characters of
// the name and seven hex digits of a hash of the whole name, at most 15 characters, so that
// several nodes' devices differ and none collides with the bridge's ("sk...").
func DeviceName(nodeName string) string {
	var b strings.Builder
	b.WriteString("vx")
	for _, r := range strings.ToLower(nodeName) {
		if b.Len() == 7 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	sum := sha256.Sum256([]byte("skiff-vxlan/" + nodeName))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:])[:7])
	return b.String()
}

// DeviceMAC derives the VXLAN device's MAC from the node name: a restarted agent, or one whose
// device was recreated, keeps the MAC its peers already have, so no peer must be rewritten.
func DeviceMAC(nodeName string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("skiff-vxlan-mac/" + nodeName))
	mac := net.HardwareAddr(slices.Clone(sum[:6]))
	mac[0] = mac[0]&0xfe | 0x02 // unicast, locally administered
	return mac
}
