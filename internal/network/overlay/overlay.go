package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/network"
)

// Defaults, flannel's: VNI 1 on the Linux kernel's VXLAN port.
const (
	DefaultVNI  = 1
	DefaultPort = 8472
)

// Encapsulation overhead: inner Ethernet (14) + VXLAN (8) + UDP (8) + outer IPv4 (20).
const overheadIPv4 = 50

// ErrNoUplink says the node IP is on no interface of the node's namespace, or on loopback: there is
// nothing to carry an overlay.
var ErrNoUplink = errors.New("overlay: the node IP is on no non-loopback interface")

// Config names the node and what the overlay creates.
type Config struct {
	NodeName string
	// NodeIP is the node's IPv4 address; the interface holding it carries the VXLAN packets and
	// it is published as the node's public IP.
	NodeIP net.IP
	// NetNS is the node's network namespace path; empty means the process's own.
	NetNS string
	// Device is the VXLAN device's name (default DeviceName(NodeName)).
	Device string
	// Bridge is the pod bridge, on which forwarding is turned on; empty leaves it alone.
	Bridge string
	// VNI and Port default to DefaultVNI and DefaultPort.
	VNI, Port int
	Logger    *slog.Logger
}

// Overlay is one node's end of the overlay. Its methods are safe for concurrent use.
type Overlay struct {
	cfg    Config
	log    *slog.Logger
	nodeIP netip.Addr
	uplink netlink.Link
	mac    net.HardwareAddr
	nsPath string

	mu      sync.Mutex // serialises Setup, Sync and Teardown, and guards the handle's life
	h       *netlink.Handle
	closed  bool
	podCIDR netip.Prefix
}

// Uplink returns the interface holding ip in the namespace at nsPath ("" for the process's own).
// It wraps ErrNoUplink when ip is loopback or on no interface.
func Uplink(nsPath string, ip net.IP) (netlink.Link, error) {
	h, err := openHandle(nsPath)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return uplinkOf(h, ip)
}

func uplinkOf(h *netlink.Handle, ip net.IP) (netlink.Link, error) {
	if ip == nil || ip.To4() == nil || ip.IsLoopback() || ip.IsUnspecified() {
		return nil, fmt.Errorf("%w (node IP %v)", ErrNoUplink, ip)
	}
	addrs, err := h.AddrList(nil, unix.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("overlay: listing addresses: %w", err)
	}
	for _, a := range addrs {
		if !a.IP.Equal(ip) {
			continue
		}
		l, err := h.LinkByIndex(a.LinkIndex)
		if err != nil {
			return nil, fmt.Errorf("overlay: interface of %s: %w", ip, err)
		}
		if l.Attrs().Flags&net.FlagLoopback != 0 {
			break
		}
		return l, nil
	}
	return nil, fmt.Errorf("%w (node IP %v)", ErrNoUplink, ip)
}

// New checks cfg and finds the uplink. It creates nothing: Setup does.
func New(cfg Config) (*Overlay, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("overlay: NodeName is required")
	}
	ip, ok := netip.AddrFromSlice(cfg.NodeIP.To4())
	if !ok {
		return nil, fmt.Errorf("overlay: node IP %v is not IPv4", cfg.NodeIP)
	}
	if cfg.Device == "" {
		cfg.Device = DeviceName(cfg.NodeName)
	}
	if len(cfg.Device) > 15 || strings.ContainsAny(cfg.Device, "/: \t\n\x00") {
		return nil, fmt.Errorf("overlay: device name %q is not a valid link name", cfg.Device)
	}
	if cfg.VNI == 0 {
		cfg.VNI = DefaultVNI
	}
	if cfg.VNI < 0 || cfg.VNI >= 1<<24 {
		return nil, fmt.Errorf("overlay: VNI %d out of range", cfg.VNI)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("overlay: port %d out of range", cfg.Port)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h, err := openHandle(cfg.NetNS)
	if err != nil {
		return nil, fmt.Errorf("overlay: node namespace %q: %w", cfg.NetNS, err)
	}
	up, err := uplinkOf(h, cfg.NodeIP)
	if err != nil {
		h.Close()
		return nil, err
	}
	return &Overlay{cfg: cfg, log: cfg.Logger.With("component", "overlay", "node", cfg.NodeName, "device", cfg.Device),
		nodeIP: ip, uplink: up, mac: DeviceMAC(cfg.NodeName), nsPath: cfg.NetNS, h: h}, nil
}

// MTU is what the VXLAN device, the bridge and the veths use: the uplink's less the
// encapsulation, so that a full-sized pod packet still fits one frame on the wire.
func (o *Overlay) MTU() int { return o.uplink.Attrs().MTU - overheadIPv4 }

// MAC is the VXLAN device's MAC, published as AnnotationMAC.
func (o *Overlay) MAC() net.HardwareAddr { return o.mac }

// PublicIP is the node IP, published as AnnotationPublicIP.
func (o *Overlay) PublicIP() netip.Addr { return o.nodeIP }

// Device is the VXLAN device's name.
func (o *Overlay) Device() string { return o.cfg.Device }

// Annotations are the Node annotations that describe this end to the peers.
func (o *Overlay) Annotations() map[string]string {
	return map[string]string{AnnotationMAC: o.mac.String(), AnnotationPublicIP: o.nodeIP.String()}
}

// Close releases the netlink handle; the device stays (pods keep their traffic across an agent
// restart).
func (o *Overlay) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		o.h.Close()
	}
	return nil
}

var errClosed = errors.New("overlay: closed")

// Setup creates the VXLAN device (or adopts one of an earlier run with the same settings, or
// replaces one whose settings differ), gives it podCIDR's first address as a /32, brings it up
// and turns forwarding on for it and the bridge. It is idempotent.
func (o *Overlay) Setup(podCIDR netip.Prefix) error {
	podCIDR = podCIDR.Masked()
	if !podCIDR.Addr().Is4() || podCIDR.Bits() >= 32 {
		return fmt.Errorf("overlay: pod CIDR %s is not an IPv4 range", podCIDR)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errClosed
	}
	dev, err := o.ensureDevice()
	if err != nil {
		return err
	}
	want := &netlink.Addr{IPNet: &net.IPNet{IP: podCIDR.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}}
	addrs, err := o.h.AddrList(dev, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("overlay: %s addresses: %w", o.cfg.Device, err)
	}
	for _, a := range addrs {
		if a.IPNet.String() != want.IPNet.String() {
			if err := o.h.AddrDel(dev, &a); err != nil {
				return fmt.Errorf("overlay: %s: remove stale %s: %w", o.cfg.Device, a.IPNet, err)
			}
		}
	}
	if err := o.h.AddrReplace(dev, want); err != nil {
		return fmt.Errorf("overlay: %s address %s: %w", o.cfg.Device, want.IPNet, err)
	}
	if err := o.h.LinkSetUp(dev); err != nil {
		return fmt.Errorf("overlay: %s up: %w", o.cfg.Device, err)
	}
	for _, ifc := range []string{o.cfg.Device, o.cfg.Bridge} {
		if ifc == "" {
			continue
		}
		if err := o.sysctl("net.ipv4.conf."+ifc+".forwarding", "1"); err != nil {
			return err
		}
	}
	o.podCIDR = podCIDR
	o.log.Info("overlay device ready", "podCIDR", podCIDR.String(), "mac", o.mac.String(), "uplink", o.uplink.Attrs().Name, "mtu", o.MTU())
	return nil
}

// ensureDevice returns the VXLAN device, created with this overlay's settings.
func (o *Overlay) ensureDevice() (netlink.Link, error) {
	l, err := o.h.LinkByName(o.cfg.Device)
	if err == nil {
		if o.matches(l) {
			if l.Attrs().MTU != o.MTU() {
				if err := o.h.LinkSetMTU(l, o.MTU()); err != nil {
					return nil, fmt.Errorf("overlay: %s MTU: %w", o.cfg.Device, err)
				}
			}
			return l, nil
		}
		if _, ok := l.(*netlink.Vxlan); !ok {
			return nil, fmt.Errorf("overlay: link %s exists and is a %s, not a vxlan", o.cfg.Device, l.Type())
		}
		o.log.Info("replacing a VXLAN device with other settings")
		if err := o.h.LinkDel(l); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil, fmt.Errorf("overlay: remove %s: %w", o.cfg.Device, err)
		}
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil, fmt.Errorf("overlay: %s: %w", o.cfg.Device, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = o.cfg.Device
	attrs.MTU = o.MTU()
	attrs.HardwareAddr = o.mac
	vx := &netlink.Vxlan{LinkAttrs: attrs, VxlanId: o.cfg.VNI, VtepDevIndex: o.uplink.Attrs().Index,
		SrcAddr: o.nodeIP.AsSlice(), Port: o.cfg.Port, Learning: false}
	if err := o.h.LinkAdd(vx); err != nil {
		return nil, fmt.Errorf("overlay: create %s: %w", o.cfg.Device, err)
	}
	l, err = o.h.LinkByName(o.cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("overlay: %s: %w", o.cfg.Device, err)
	}
	return l, nil
}

// matches says whether an existing link is our VXLAN device with our settings.
func (o *Overlay) matches(l netlink.Link) bool {
	vx, ok := l.(*netlink.Vxlan)
	return ok && vx.VxlanId == o.cfg.VNI && vx.Port == o.cfg.Port && vx.VtepDevIndex == o.uplink.Attrs().Index &&
		vx.SrcAddr.Equal(o.nodeIP.AsSlice()) && bytes.Equal(vx.HardwareAddr, o.mac) && !vx.Learning
}

// Sync makes the routes, neighbour and FDB entries on the device those of peers, adding what is
// missing and removing what belongs to no peer. A failure on one peer does not stop the others;
// the errors come back joined.
func (o *Overlay) Sync(peers []Peer) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errClosed
	}
	dev, err := o.h.LinkByName(o.cfg.Device)
	if err != nil {
		return fmt.Errorf("overlay: %s: %w (was Setup run?)", o.cfg.Device, err)
	}
	idx := dev.Attrs().Index
	routes, err := o.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: idx, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("overlay: routes on %s: %w", o.cfg.Device, err)
	}
	neighs, err := o.h.NeighList(idx, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("overlay: neighbours on %s: %w", o.cfg.Device, err)
	}
	fdbs, err := o.h.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("overlay: FDB of %s: %w", o.cfg.Device, err)
	}
	plan := planSync(peers, idx, routes, neighs, fdbs)
	var errs []error
	// Removals first: a peer whose range moved to another node must not keep the old route.
	for _, r := range plan.delRoutes {
		if err := o.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove route %s: %w", r.Dst, err))
		}
	}
	for _, n := range plan.delNeighs {
		if err := o.h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove neighbour %s: %w", n.IP, err))
		}
	}
	for _, n := range plan.delFDB {
		if err := o.h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove FDB entry %s: %w", n.HardwareAddr, err))
		}
	}
	// Additions in the order a packet needs them: where the MAC lives, the MAC of the next hop,
	// then the route, so that no packet takes the route before it can be delivered.
	for _, n := range plan.addFDB {
		if err := o.h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("FDB entry %s -> %s: %w", n.HardwareAddr, n.IP, err))
		}
	}
	for _, n := range plan.addNeighs {
		if err := o.h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("neighbour %s -> %s: %w", n.IP, n.HardwareAddr, err))
		}
	}
	for _, r := range plan.addRoutes {
		if err := o.h.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s: %w", r.Dst, r.Gw, err))
		}
	}
	if n := len(plan.addRoutes) + len(plan.delRoutes) + len(plan.addNeighs) + len(plan.delNeighs) + len(plan.addFDB) + len(plan.delFDB); n > 0 {
		o.log.Info("overlay synced", "peers", len(peers), "routesAdded", len(plan.addRoutes), "routesRemoved", len(plan.delRoutes),
			"neighChanges", len(plan.addNeighs)+len(plan.delNeighs), "fdbChanges", len(plan.addFDB)+len(plan.delFDB))
	}
	return errors.Join(errs...)
}

// syncPlan is what Sync changes.
type syncPlan struct {
	addRoutes         []*netlink.Route
	delRoutes         []netlink.Route
	addNeighs, addFDB []*netlink.Neigh
	delNeighs, delFDB []netlink.Neigh
}

// planSync compares what the peers need with what the device has. Only entries this package makes
// are considered for removal: routes with a gateway, permanent neighbour entries and permanent
// FDB entries with a destination; what the kernel keeps on its own is left alone.
func planSync(peers []Peer, link int, routes []netlink.Route, neighs, fdbs []netlink.Neigh) syncPlan {
	var p syncPlan
	wantRoute := map[string]*netlink.Route{}
	wantNeigh := map[string]*netlink.Neigh{}
	wantFDB := map[string]*netlink.Neigh{}
	for _, peer := range peers {
		e := entriesFor(peer, link)
		wantRoute[e.route.Dst.String()] = e.route
		wantNeigh[e.neigh.IP.String()] = e.neigh
		wantFDB[e.fdb.HardwareAddr.String()] = e.fdb
	}
	haveRoute := map[string]bool{}
	for _, r := range routes {
		if r.Dst == nil || r.Gw == nil {
			continue
		}
		w, ok := wantRoute[r.Dst.String()]
		if ok && r.Gw.Equal(w.Gw) && r.LinkIndex == link && r.Flags&int(netlink.FLAG_ONLINK) != 0 {
			haveRoute[r.Dst.String()] = true
			continue
		}
		if !ok {
			p.delRoutes = append(p.delRoutes, r)
		}
	}
	haveNeigh := map[string]bool{}
	for _, n := range neighs {
		if n.State&netlink.NUD_PERMANENT == 0 || n.IP == nil {
			continue
		}
		w, ok := wantNeigh[n.IP.String()]
		if ok && bytes.Equal(n.HardwareAddr, w.HardwareAddr) {
			haveNeigh[n.IP.String()] = true
			continue
		}
		if !ok {
			p.delNeighs = append(p.delNeighs, n)
		}
	}
	haveFDB := map[string]bool{}
	for _, n := range fdbs {
		if n.State&netlink.NUD_PERMANENT == 0 || n.IP == nil || len(n.HardwareAddr) != 6 {
			continue
		}
		w, ok := wantFDB[n.HardwareAddr.String()]
		if ok && n.IP.Equal(w.IP) {
			haveFDB[n.HardwareAddr.String()] = true
			continue
		}
		// A wanted MAC with another destination goes too: a VXLAN FDB keeps several
		// destinations per MAC, so setting the new one would not drop the old.
		n.Family = unix.AF_BRIDGE
		n.Flags |= netlink.NTF_SELF
		p.delFDB = append(p.delFDB, n)
	}
	for _, peer := range peers {
		e := entriesFor(peer, link)
		if !haveFDB[e.fdb.HardwareAddr.String()] {
			p.addFDB = append(p.addFDB, e.fdb)
		}
		if !haveNeigh[e.neigh.IP.String()] {
			p.addNeighs = append(p.addNeighs, e.neigh)
		}
		if !haveRoute[e.route.Dst.String()] {
			p.addRoutes = append(p.addRoutes, e.route)
		}
	}
	return p
}

// Teardown deletes the VXLAN device, and with it every route, neighbour and FDB entry on it. It
// is idempotent.
func (o *Overlay) Teardown() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errClosed
	}
	l, err := o.h.LinkByName(o.cfg.Device)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("overlay: %s: %w", o.cfg.Device, err)
	}
	if _, ok := l.(*netlink.Vxlan); !ok {
		return fmt.Errorf("overlay: link %s is a %s, not our vxlan", o.cfg.Device, l.Type())
	}
	if err := o.h.LinkDel(l); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
		return fmt.Errorf("overlay: remove %s: %w", o.cfg.Device, err)
	}
	o.log.Info("overlay device removed")
	return nil
}

// sysctl writes a per-namespace net.* knob inside the node's namespace.
func (o *Overlay) sysctl(key, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	write := func() error { return os.WriteFile(path, []byte(value), 0o644) }
	var err error
	if o.nsPath == "" {
		err = write()
	} else {
		fd, ferr := netns.GetFromPath(o.nsPath)
		if ferr != nil {
			return fmt.Errorf("overlay: sysctl %s: %w", key, ferr)
		}
		defer fd.Close()
		err = network.InNamespace(fd, write)
	}
	if err != nil {
		return fmt.Errorf("overlay: sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func openHandle(path string) (*netlink.Handle, error) {
	if path == "" {
		path = "/proc/self/ns/net"
	}
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	return netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
}
