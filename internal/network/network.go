package network

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/network/ipam"
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("network: closed")

// DefaultMTU is used when Config.MTU is zero.
const DefaultMTU = 1500

// PodInterface is the name of the pod's end of its veth, inside the pod's namespace.
const PodInterface = "eth0"

// maxLinkName is IFNAMSIZ minus the terminating NUL.
const maxLinkName = 15

// Config names everything the network creates; the node agent derives it from its flags.
type Config struct {
	// BridgeName is the bridge in the node's namespace, at most 15 characters (see BridgeName).
	BridgeName string
	// PodCIDR is the node's IPv4 pod range (--pod-cidr, or the Node's spec.podCIDR), /30 or larger.
	PodCIDR string
	// MTU of the bridge and of both ends of every veth; DefaultMTU when zero.
	MTU int
	// StateDir holds the address allocations (StateDir/ipam).
	StateDir string
	// NetNS is the path of the node's network namespace (e.g. /run/netns/NAME); empty means the
	// namespace the process runs in.
	NetNS string
}

// Network is a node's pod network. Its methods are safe for concurrent use for different pods.
type Network struct {
	cfg     Config
	prefix  netip.Prefix
	gateway netip.Addr
	ipam    *ipam.Allocator
	node    *netlink.Handle // operates in the node's namespace without moving any thread
	nodeNS  nsID            // to refuse a pod "namespace" that is the node's own

	// closeMu keeps Close from running under an operation. It matters: a closed netlink handle
	// silently falls back to the process's own namespace, which may be the machine's root one.
	closeMu sync.RWMutex
	closed  bool
}

// use holds off Close for one operation; the caller must call the returned func.
func (n *Network) use() (func(), error) {
	n.closeMu.RLock()
	if n.closed {
		n.closeMu.RUnlock()
		return nil, ErrClosed
	}
	return n.closeMu.RUnlock, nil
}

// New validates cfg and opens the node's namespace. It creates nothing on the host: Setup does.
func New(cfg Config) (*Network, error) {
	if err := validLinkName(cfg.BridgeName); err != nil {
		return nil, fmt.Errorf("network: bridge name: %w", err)
	}
	prefix, err := netip.ParsePrefix(cfg.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("network: pod CIDR: %w", err)
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("network: MTU %d out of range", cfg.MTU)
	}
	if cfg.StateDir == "" {
		return nil, errors.New("network: state dir is required")
	}
	alloc, err := ipam.New(filepath.Join(cfg.StateDir, "ipam"), prefix)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	node, nodeNS, err := openNode(cfg.NetNS)
	if err != nil {
		return nil, fmt.Errorf("network: node namespace %q: %w", cfg.NetNS, err)
	}
	return &Network{cfg: cfg, prefix: alloc.Prefix(), gateway: alloc.Gateway(), ipam: alloc, node: node, nodeNS: nodeNS}, nil
}

// Close releases the netlink handle; the bridge and pods stay as they are.
func (n *Network) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if !n.closed {
		n.closed = true
		n.node.Close()
	}
	return nil
}

// PodCIDR returns the pod range.
func (n *Network) PodCIDR() *net.IPNet { return ipNet(n.prefix.Addr(), n.prefix.Bits()) }

// Gateway returns the bridge's address, every pod's default gateway.
func (n *Network) Gateway() net.IP { return n.gateway.AsSlice() }

// Allocations lists every address held, so that the caller can Detach pods that no longer exist.
func (n *Network) Allocations() ([]ipam.Allocation, error) { return n.ipam.List() }

// Setup creates the bridge, or adopts one left by an earlier run without disturbing the pods on it,
// gives it the gateway address and brings it up. It is idempotent.
func (n *Network) Setup() error {
	done, err := n.use()
	if err != nil {
		return err
	}
	defer done()
	br, err := n.bridge()
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = n.cfg.BridgeName
		attrs.MTU = n.cfg.MTU
		// A fixed MAC: otherwise the bridge takes the lowest MAC of its ports and changes it as pods
		// come and go, which leaves stale gateway entries in the pods' ARP caches.
		attrs.HardwareAddr = bridgeMAC(n.cfg.BridgeName)
		err = n.node.LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("network: create bridge %s: %w", n.cfg.BridgeName, err)
		}
		br, err = n.bridge()
	}
	if err != nil {
		return err
	}
	if br.Attrs().MTU != n.cfg.MTU {
		if err := n.node.LinkSetMTU(br, n.cfg.MTU); err != nil {
			return fmt.Errorf("network: bridge %s MTU: %w", n.cfg.BridgeName, err)
		}
	}
	if err := n.bridgeAddress(br); err != nil {
		return err
	}
	if err := n.node.LinkSetUp(br); err != nil {
		return fmt.Errorf("network: bridge %s up: %w", n.cfg.BridgeName, err)
	}
	return nil
}

// bridgeAddress makes the gateway the bridge's only IPv4 address: an address left from an earlier
// pod CIDR would keep a route to a range this node no longer serves.
func (n *Network) bridgeAddress(br netlink.Link) error {
	want := &netlink.Addr{IPNet: ipNet(n.gateway, n.prefix.Bits())}
	addrs, err := n.node.AddrList(br, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("network: bridge %s addresses: %w", n.cfg.BridgeName, err)
	}
	for _, a := range addrs {
		if a.IPNet.String() == want.IPNet.String() {
			continue
		}
		if err := n.node.AddrDel(br, &a); err != nil {
			return fmt.Errorf("network: bridge %s: remove stale %s: %w", n.cfg.BridgeName, a.IPNet, err)
		}
	}
	if err := n.node.AddrReplace(br, want); err != nil {
		return fmt.Errorf("network: bridge %s address %s: %w", n.cfg.BridgeName, want.IPNet, err)
	}
	return nil
}

// Attach connects the pod whose network namespace is at netnsPath and returns its address. A retry
// after a partial failure, or a call for an already attached pod, finishes or confirms the same
// attachment with the same address. After a failed Attach the caller retries or calls Detach, which
// gives the address back.
func (n *Network) Attach(podUID, netnsPath string) (net.IP, error) {
	if podUID == "" {
		return nil, errors.New("network: attach: empty pod UID")
	}
	done, err := n.use()
	if err != nil {
		return nil, err
	}
	defer done()
	podFd, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("network: attach pod %s: namespace %s: %w", podUID, netnsPath, err)
	}
	defer podFd.Close()
	// The node's own namespace passed by mistake (a hostNetwork pod is never attached) would get
	// its eth0 replaced.
	if id, err := idOf(int(podFd)); err != nil || id == n.nodeNS {
		return nil, fmt.Errorf("network: attach pod %s: %s is the node's own network namespace or unreadable (%v)", podUID, netnsPath, err)
	}
	pod, err := netlink.NewHandleAt(podFd, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("network: attach pod %s: netlink in %s: %w", podUID, netnsPath, err)
	}
	defer pod.Close()
	addr, err := n.ipam.Allocate(podUID)
	if err != nil {
		return nil, fmt.Errorf("network: attach pod %s: %w", podUID, err)
	}

	br, err := n.bridge()
	if err != nil {
		return nil, fmt.Errorf("network: attach pod %s: %w (was Setup run?)", podUID, err)
	}
	host, created, err := n.veth(pod, podFd, podUID)
	if err != nil {
		return nil, fmt.Errorf("network: attach pod %s: %w", podUID, err)
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := n.node.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
			return nil, fmt.Errorf("network: attach pod %s: join bridge: %w", podUID, err)
		}
	}
	// Hairpin: a pod whose Service traffic is DNATed back to itself gets the packet out of
	// the port it came in by (with br_netfilter the DNAT happens on the bridge path), which a
	// bridge port refuses unless hairpin mode is on.
	if host.Attrs().Protinfo == nil || !host.Attrs().Protinfo.Hairpin {
		if err := n.node.LinkSetHairpin(host, true); err != nil {
			return nil, fmt.Errorf("network: attach pod %s: hairpin mode: %w", podUID, err)
		}
	}
	if err := n.node.LinkSetUp(host); err != nil {
		return nil, fmt.Errorf("network: attach pod %s: host veth up: %w", podUID, err)
	}
	if created {
		n.forgetNeighbor(br, addr)
	}
	if err := n.configurePod(pod, podFd, addr); err != nil {
		return nil, fmt.Errorf("network: attach pod %s: %w", podUID, err)
	}
	n.waitOperational(pod, br.Attrs().Name, host.Attrs().Name)
	return addr.AsSlice(), nil
}

// readyTimeout bounds how long Attach waits for the kernel to bring the new links into operation.
const readyTimeout = 2 * time.Second

// waitOperational waits until the bridge, the host veth and the pod's eth0 are operationally up.
// The kernel applies a carrier change (which enables the bridge port and gives a device its
// transmit queue) asynchronously, batching some of them up to a second; a packet sent before that
// is dropped, and a lost first ARP costs the node a one-second retry. Waiting here makes the pod's
// address usable, for the first probe too, by the time Attach returns. It gives up silently after
// readyTimeout: the links are configured and will come up on their own.
func (n *Network) waitOperational(pod *netlink.Handle, bridge, hostVeth string) {
	up := func(h *netlink.Handle, name string) bool {
		l, err := h.LinkByName(name)
		return err == nil && l.Attrs().OperState == netlink.OperUp
	}
	deadline := time.Now().Add(readyTimeout)
	for delay := 500 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		if up(n.node, hostVeth) && up(pod, PodInterface) && up(n.node, bridge) {
			return
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(delay)
	}
}

// veth returns the pod's host-side veth, creating the pair if it is missing or half made, and
// whether it did. The pod end is created directly inside the pod's namespace under its final name,
// so no temporary name can collide and no link ever sits in the node's namespace as eth0.
func (n *Network) veth(pod *netlink.Handle, podFd netns.NsHandle, podUID string) (netlink.Link, bool, error) {
	name := HostVethName(podUID)
	host, herr := n.node.LinkByName(name)
	eth, perr := pod.LinkByName(PodInterface)
	if herr == nil && perr == nil && paired(host, eth) {
		return host, false, nil
	}
	if herr == nil {
		if _, ok := host.(*netlink.Veth); !ok {
			return nil, false, fmt.Errorf("link %s exists and is a %s, not a veth", name, host.Type())
		}
		if err := n.node.LinkDel(host); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil, false, fmt.Errorf("remove half-made veth %s: %w", name, err)
		}
	}
	// The namespace is the pod's own, so a veth eth0 there that is not our peer is a leftover of
	// an earlier attempt; anything else named eth0 is not ours to remove.
	if perr == nil {
		if _, ok := eth.(*netlink.Veth); !ok {
			return nil, false, fmt.Errorf("pod namespace already has a %s %s", eth.Type(), PodInterface)
		}
		if err := pod.LinkDel(eth); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil, false, fmt.Errorf("remove stale %s in pod: %w", PodInterface, err)
		}
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.MTU = n.cfg.MTU
	veth := netlink.NewVeth(attrs)
	veth.PeerName = PodInterface
	veth.PeerNamespace = netlink.NsFd(podFd)
	if err := n.node.LinkAdd(veth); err != nil {
		return nil, false, fmt.Errorf("create veth %s: %w", name, err)
	}
	host, err := n.node.LinkByName(name)
	if err != nil {
		return nil, false, fmt.Errorf("veth %s: %w", name, err)
	}
	return host, true, nil
}

// paired reports whether eth (in the pod) is the other end of host (on the node).
func paired(host, eth netlink.Link) bool {
	if _, ok := host.(*netlink.Veth); !ok {
		return false
	}
	if _, ok := eth.(*netlink.Veth); !ok {
		return false
	}
	return eth.Attrs().ParentIndex == host.Attrs().Index && host.Attrs().ParentIndex == eth.Attrs().Index
}

// configurePod gives eth0 the pod's address and a default route via the gateway, and brings eth0
// and lo up. Every step replaces rather than adds, so it is safe to repeat.
func (n *Network) configurePod(pod *netlink.Handle, podFd netns.NsHandle, addr netip.Addr) error {
	lo, err := pod.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("pod loopback: %w", err)
	}
	if err := pod.LinkSetUp(lo); err != nil {
		return fmt.Errorf("pod loopback up: %w", err)
	}
	eth, err := pod.LinkByName(PodInterface)
	if err != nil {
		return fmt.Errorf("pod %s: %w", PodInterface, err)
	}
	// An address can come back to a new pod (with a new MAC) while the node and other pods still
	// hold the old pod's MAC for it; a gratuitous ARP when eth0 comes up corrects them at once
	// instead of after the neighbour entries time out (several seconds of lost packets).
	if eth.Attrs().Flags&net.FlagUp == 0 {
		if err := setSysctl(podFd, "net.ipv4.conf."+PodInterface+".arp_notify", "1"); err != nil {
			return err
		}
	}
	if err := pod.AddrReplace(eth, &netlink.Addr{IPNet: ipNet(addr, n.prefix.Bits())}); err != nil {
		return fmt.Errorf("pod address %s: %w", addr, err)
	}
	if err := pod.LinkSetUp(eth); err != nil {
		return fmt.Errorf("pod %s up: %w", PodInterface, err)
	}
	route := &netlink.Route{
		LinkIndex: eth.Attrs().Index,
		Dst:       ipNet(netip.IPv4Unspecified(), 0),
		Gw:        n.gateway.AsSlice(),
	}
	if err := pod.RouteReplace(route); err != nil {
		return fmt.Errorf("pod default route via %s: %w", n.gateway, err)
	}
	return nil
}

// forgetNeighbor drops the node's neighbour entry for a pod address on the bridge, which may still
// name the MAC of a pod that held the address before. Best effort: a missing entry is the normal
// case, and the pod's gratuitous ARP corrects a stale one anyway.
func (n *Network) forgetNeighbor(br netlink.Link, addr netip.Addr) {
	n.node.NeighDel(&netlink.Neigh{LinkIndex: br.Attrs().Index, Family: netlink.FAMILY_V4, IP: addr.AsSlice()})
}

// Detach removes the pod's veth pair and gives its address back. netnsPath may be empty or gone
// (the sandbox already destroyed): deleting the host end removes both ends. Detaching a pod that
// is not attached is not an error, which makes it the garbage collector's tool too.
func (n *Network) Detach(podUID, netnsPath string) error {
	if podUID == "" {
		return errors.New("network: detach: empty pod UID")
	}
	done, err := n.use()
	if err != nil {
		return err
	}
	defer done()
	name := HostVethName(podUID)
	host, err := n.node.LinkByName(name)
	switch {
	case err == nil:
		if _, ok := host.(*netlink.Veth); !ok {
			return fmt.Errorf("network: detach pod %s: link %s is a %s, not a veth", podUID, name, host.Type())
		}
		if err := n.node.LinkDel(host); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
			return fmt.Errorf("network: detach pod %s: %w", podUID, err)
		}
	case errors.As(err, new(netlink.LinkNotFoundError)):
		if err := n.removePodEnd(netnsPath); err != nil {
			return fmt.Errorf("network: detach pod %s: %w", podUID, err)
		}
	default:
		return fmt.Errorf("network: detach pod %s: %w", podUID, err)
	}
	if addr, held, err := n.ipam.Lookup(podUID); err == nil && held {
		if br, err := n.bridge(); err == nil {
			n.forgetNeighbor(br, addr)
		}
	}
	if err := n.ipam.Release(podUID); err != nil {
		return fmt.Errorf("network: detach pod %s: %w", podUID, err)
	}
	return nil
}

// removePodEnd deletes a veth eth0 left in a pod namespace whose host end is gone (a veth pair
// dies as a whole, so this only happens if the host end was removed by hand and the peer moved).
func (n *Network) removePodEnd(netnsPath string) error {
	if netnsPath == "" {
		return nil
	}
	fd, err := netns.GetFromPath(netnsPath)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return err
	}
	defer fd.Close()
	if id, err := idOf(int(fd)); err != nil || id == n.nodeNS {
		return nil // never the node's own eth0
	}
	pod, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer pod.Close()
	eth, err := pod.LinkByName(PodInterface)
	if err != nil {
		return nil
	}
	if _, ok := eth.(*netlink.Veth); !ok {
		return nil
	}
	if err := pod.LinkDel(eth); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
		return err
	}
	return nil
}

// Teardown removes the bridge and every veth on it, and forgets all allocations: the node leaves.
// Pods still attached lose their network. It is idempotent.
func (n *Network) Teardown() error {
	done, err := n.use()
	if err != nil {
		return err
	}
	defer done()
	br, err := n.bridge()
	switch {
	case err == nil:
		links, err := n.node.LinkList()
		if err != nil {
			return fmt.Errorf("network: teardown: %w", err)
		}
		for _, l := range links {
			if _, ok := l.(*netlink.Veth); !ok || l.Attrs().MasterIndex != br.Attrs().Index {
				continue
			}
			if err := n.node.LinkDel(l); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
				return fmt.Errorf("network: teardown: remove %s: %w", l.Attrs().Name, err)
			}
		}
		if err := n.node.LinkDel(br); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
			return fmt.Errorf("network: teardown: remove bridge %s: %w", n.cfg.BridgeName, err)
		}
	case errors.As(err, new(netlink.LinkNotFoundError)):
	default:
		return err
	}
	if err := n.ipam.Reset(); err != nil {
		return fmt.Errorf("network: teardown: %w", err)
	}
	return nil
}

// bridge looks the bridge up and refuses to adopt a link of that name that is not a bridge.
func (n *Network) bridge() (netlink.Link, error) {
	l, err := n.node.LinkByName(n.cfg.BridgeName)
	if err != nil {
		return nil, err
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return nil, fmt.Errorf("network: link %s exists and is a %s, not a bridge", n.cfg.BridgeName, l.Type())
	}
	return l, nil
}

// BridgeName derives the node's bridge name from its node name: "sk", up to five characters of the
// name for whoever reads `ip link`, and seven hex digits of a hash of the whole name so that nodes
// whose names share a prefix still differ. At most 15 characters.
func BridgeName(nodeName string) string {
	var b strings.Builder
	b.WriteString("sk")
	for _, r := range strings.ToLower(nodeName) {
		if b.Len() == 7 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	sum := sha256.Sum256([]byte(nodeName))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:])[:7])
	return b.String()
}

// HostVethName derives the node-side veth name from the pod UID: "skv" and 12 hex digits of a hash
// of the UID (15 characters), stable across agent restarts so an attachment can be found again.
func HostVethName(podUID string) string {
	sum := sha256.Sum256([]byte(podUID))
	return "skv" + hex.EncodeToString(sum[:])[:12]
}

// bridgeMAC derives a locally administered unicast MAC from the bridge name.
func bridgeMAC(name string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("skiff-bridge/" + name))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

func validLinkName(name string) error {
	if name == "" || len(name) > maxLinkName {
		return fmt.Errorf("%q must be 1 to %d characters", name, maxLinkName)
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\x00") {
		return fmt.Errorf("%q is not a valid link name", name)
	}
	return nil
}

// nsID identifies a namespace the way the kernel does: by the device and inode of its nsfs file.
type nsID struct{ dev, ino uint64 }

func idOf(fd int) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nsID{}, err
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

// openNode returns a netlink handle in the node's namespace (path, or the process's own when
// empty) and the namespace's identity.
func openNode(path string) (*netlink.Handle, nsID, error) {
	if path == "" {
		path = "/proc/self/ns/net"
	}
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return nil, nsID{}, err
	}
	defer fd.Close()
	id, err := idOf(int(fd))
	if err != nil {
		return nil, nsID{}, err
	}
	h, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, nsID{}, err
	}
	return h, id, nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}
