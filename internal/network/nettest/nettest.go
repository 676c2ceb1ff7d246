package nettest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/network"
)

// RunDir is where named namespaces are bind-mounted, the directory `ip netns` uses.
const RunDir = "/run/netns"

// namePrefix starts every namespace this package makes; the creating PID follows it so that
// leftovers of a killed test binary can be told apart from namespaces of a live one.
const namePrefix = "skt"

var (
	// Subnet is the LAN every host is on.
	Subnet = netip.MustParsePrefix("198.18.0.0/24")
	// ClusterCIDR is split into one /24 pod CIDR per host.
	ClusterCIDR = netip.MustParsePrefix("198.19.0.0/16")
)

// Namespace is a named network namespace owned by a test.
type Namespace struct {
	Name string // as `ip netns list` shows it
	Path string // RunDir/Name: what network.Config.NetNS and netns.GetFromPath take
}

// RequireRoot skips the test unless it runs as root, which namespaces and links need.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
}

var sweepOnce sync.Once

// NewNamespace creates a named network namespace with loopback up, removed in t.Cleanup. label
// shows in the name, which also carries the test's name and a random suffix, so that parallel
// tests never collide.
func NewNamespace(t testing.TB, label string) *Namespace {
	t.Helper()
	RequireRoot(t)
	sweepOnce.Do(sweepStale)
	name := fmt.Sprintf("%s%d-%s-%s-%s", namePrefix, os.Getpid(), sanitize(t.Name(), 20), randSuffix(), sanitize(label, 12))
	ns := &Namespace{Name: name, Path: filepath.Join(RunDir, name)}
	if err := create(ns.Path); err != nil {
		t.Fatalf("nettest: create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := ns.Remove(); err != nil {
			t.Errorf("nettest: %v", err)
		}
	})
	if err := loopbackUp(ns); err != nil {
		t.Fatalf("nettest: loopback up in %s: %v", name, err)
	}
	return ns
}

// loopbackUp uses a handle of its own, closed at once: an open netlink socket would keep the
// namespace alive after Remove.
func loopbackUp(ns *Namespace) error {
	h, err := ns.netlink()
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	return h.LinkSetUp(lo)
}

// Remaining lists the namespaces (in RunDir) and namespace mounts that this process made for t or
// its subtests and that still exist. After the cleanups of a subtest have run it must be empty;
// tests that check for leaks call it on the parent once the subtest returns.
func Remaining(t testing.TB) []string {
	t.Helper()
	marker := fmt.Sprintf("%s%d-%s", namePrefix, os.Getpid(), sanitize(t.Name(), 20))
	var left []string
	entries, _ := os.ReadDir(RunDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), marker) {
			left = append(left, "netns "+e.Name())
		}
	}
	mounts, err := os.ReadFile("/proc/thread-self/mountinfo") // /proc/self may be wedged in a container's namespace (see volume)
	if err != nil {
		t.Fatalf("nettest: %v", err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, filepath.Join(RunDir, marker)) {
			left = append(left, "mount "+line)
		}
	}
	return left
}

// Remove deletes the namespace before the test ends, as when a pod sandbox dies; the kernel frees
// it, with every link in it, once no process, socket or open handle (see Netlink) holds it any
// more. Removing twice is fine.
func (ns *Namespace) Remove() error {
	if err := remove(ns.Path); err != nil {
		return fmt.Errorf("remove namespace %s: %w", ns.Name, err)
	}
	return nil
}

// Netlink returns a netlink handle operating inside the namespace, closed in t.Cleanup. Do not use
// it after t ends: a closed handle falls back to the process's own (root) namespace.
func (ns *Namespace) Netlink(t testing.TB) *netlink.Handle {
	t.Helper()
	h, err := ns.netlink()
	if err != nil {
		t.Fatalf("nettest: netlink handle in %s: %v", ns.Name, err)
	}
	t.Cleanup(h.Close)
	return h
}

func (ns *Namespace) netlink() (*netlink.Handle, error) {
	fd, err := netns.GetFromPath(ns.Path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	return netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
}

// Do runs fn on an OS thread switched into the namespace and waits for it. Sockets fn opens stay
// in the namespace after Do returns; goroutines fn starts do not run in it.
func (ns *Namespace) Do(fn func() error) error {
	target, err := netns.GetFromPath(ns.Path)
	if err != nil {
		return fmt.Errorf("nettest: %w", err)
	}
	defer target.Close()
	return network.InNamespace(target, fn)
}

// Listen opens a listener inside the namespace.
func (ns *Namespace) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := ns.Do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// DialContext connects from inside the namespace.
func (ns *Namespace) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Start starts cmd inside the namespace: the child inherits the namespace of the thread that
// forks it. The caller waits for it (cmd.Wait) as usual.
func (ns *Namespace) Start(cmd *exec.Cmd) error {
	return ns.Do(cmd.Start)
}

// Run starts cmd inside the namespace and waits for it.
func (ns *Namespace) Run(cmd *exec.Cmd) error {
	if err := ns.Start(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}

// Host is one machine of a LAN.
type Host struct {
	*Namespace
	Index   int
	Iface   string       // its interface on the LAN, inside the namespace
	IP      netip.Addr   // its address on the LAN
	PodCIDR netip.Prefix // a pod CIDR of its own, free for the test to use
}

// LAN is a set of hosts on one switch.
type LAN struct {
	Switch *Namespace // holds the bridge; nothing else lives there
	Subnet netip.Prefix
	Hosts  []*Host
}

// NewLAN creates n hosts connected to one switch, torn down in t.Cleanup.
func NewLAN(t testing.TB, n int) *LAN {
	t.Helper()
	if n < 1 || n > 250 {
		t.Fatalf("nettest: NewLAN(%d): between 1 and 250 hosts", n)
	}
	lan := &LAN{Switch: NewNamespace(t, "switch"), Subnet: Subnet}
	sw := lan.Switch.Netlink(t)
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "lan0"
	br := &netlink.Bridge{LinkAttrs: attrs}
	if err := sw.LinkAdd(br); err != nil {
		t.Fatalf("nettest: switch bridge: %v", err)
	}
	if err := sw.LinkSetUp(br); err != nil {
		t.Fatalf("nettest: switch bridge up: %v", err)
	}
	for range n {
		lan.addHost(t, sw, br)
	}
	return lan
}

// AddHost plugs one more host into the LAN (index len(Hosts)), as a machine joining later.
func (lan *LAN) AddHost(t testing.TB) *Host {
	t.Helper()
	sw := lan.Switch.Netlink(t)
	l, err := sw.LinkByName("lan0")
	if err != nil {
		t.Fatalf("nettest: switch bridge: %v", err)
	}
	br, ok := l.(*netlink.Bridge)
	if !ok {
		t.Fatalf("nettest: switch lan0 is a %s", l.Type())
	}
	return lan.addHost(t, sw, br)
}

func (lan *LAN) addHost(t testing.TB, sw *netlink.Handle, br *netlink.Bridge) *Host {
	t.Helper()
	i := len(lan.Hosts)
	if i >= 250 {
		t.Fatalf("nettest: a LAN holds at most 250 hosts")
	}
	h := &Host{
		Namespace: NewNamespace(t, fmt.Sprintf("host%d", i)),
		Index:     i,
		Iface:     "eth0",
		IP:        nthAddr(Subnet, i+1),
		PodCIDR:   netip.PrefixFrom(nthAddr(ClusterCIDR, i<<8), 24),
	}
	if err := plug(sw, br, h); err != nil {
		t.Fatalf("nettest: plug host %d: %v", i, err)
	}
	lan.Hosts = append(lan.Hosts, h)
	return h
}

// plug connects a host to the switch: the switch's end is named after the host index and joins
// the bridge; the host's end is created directly inside the host namespace as eth0.
func plug(sw *netlink.Handle, br *netlink.Bridge, h *Host) error {
	hostFd, err := netns.GetFromPath(h.Path)
	if err != nil {
		return err
	}
	defer hostFd.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = fmt.Sprintf("port%d", h.Index)
	attrs.MasterIndex = br.Attrs().Index
	port := netlink.NewVeth(attrs)
	port.PeerName = h.Iface
	port.PeerNamespace = netlink.NsFd(hostFd)
	if err := sw.LinkAdd(port); err != nil {
		return err
	}
	if err := sw.LinkSetUp(port); err != nil {
		return err
	}
	hh, err := h.netlink()
	if err != nil {
		return err
	}
	defer hh.Close()
	eth, err := hh.LinkByName(h.Iface)
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: h.IP.AsSlice(), Mask: net.CIDRMask(Subnet.Bits(), 32)}}
	if err := hh.AddrAdd(eth, addr); err != nil {
		return err
	}
	return hh.LinkSetUp(eth)
}

// nthAddr returns the address n places after the start of p.
func nthAddr(p netip.Prefix, n int) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// create makes a new network namespace and bind-mounts it at path, as `ip netns add` does. The
// unshare happens on a locked thread that switches back afterwards, so no goroutine of the test
// ever runs in the new namespace by accident.
func create(path string) error {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		merr := unix.Mount(self, path, "", unix.MS_BIND, "")
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(merr, err) // thread dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		errc <- merr
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// remove unmounts and deletes a named namespace; the kernel frees it once nothing else holds it.
func remove(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// sweepStale removes namespaces left by test binaries that were killed before their cleanups ran
// (a timeout, SIGKILL). Only names carrying this package's prefix and the PID of a process that no
// longer exists are touched.
func sweepStale() {
	entries, err := os.ReadDir(RunDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, ok := ownerPID(e.Name())
		if !ok {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			remove(filepath.Join(RunDir, e.Name()))
		}
	}
}

// ownerPID extracts the creator's PID from a namespace name made by NewNamespace.
func ownerPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// sanitize keeps what is safe and readable in a file name, cut to max characters.
func sanitize(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "."):
			b.WriteByte('.')
		}
		if b.Len() >= max {
			break
		}
	}
	return strings.Trim(b.String(), ".")
}

func randSuffix() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
