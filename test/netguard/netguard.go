package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TableName is the guard's table, in the ip family.
const TableName = "skiff-test-guard"

// LockPath is the file whose flock counts the processes using the guard.
const LockPath = "/run/skiff-test-guard.lock"

// Ranges are the destinations no test packet may send out of the machine.
var Ranges = []netip.Prefix{
	netip.MustParsePrefix("10.244.0.0/16"),
	netip.MustParsePrefix("10.96.0.0/12"),
	netip.MustParsePrefix("198.18.0.0/15"),
}

var (
	mu    sync.Mutex
	users int
	lock  *os.File
)

// Ensure installs the guard (if this process does not hold it yet) and keeps it until t and
// every other user in any process have ended. It skips the test unless it runs as root.
func Ensure(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to install the nftables guard")
	}
	mu.Lock()
	defer mu.Unlock()
	if users == 0 {
		f, err := acquire()
		if err != nil {
			t.Fatalf("netguard: %v", err)
		}
		lock = f
	}
	users++
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		users--
		if users > 0 {
			return
		}
		if err := release(lock); err != nil {
			t.Errorf("netguard: %v", err)
		}
		lock = nil
	})
}

// acquire takes the shared lock, then (re)writes the table: one transaction, so a guard that
// another process installed never has a moment without its rules.
func acquire() (*os.File, error) {
	f, err := os.OpenFile(LockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", LockPath, err)
	}
	uplinks, err := Uplinks()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := install(uplinks); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// release deletes the table if no other process holds the lock, then lets go of it. A failed
// try for the exclusive lock means another process still uses the guard; the conversion may have
// dropped the shared lock already, which is what releasing wants anyway.
func release(f *os.File) error {
	if f == nil {
		return nil
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil
	}
	return remove()
}

// Uplinks are the interfaces of the test process's namespace that hold an IPv4 default route.
func Uplinks() ([]string, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC},
		netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	var names []string
	add := func(index int) {
		if index == 0 {
			return
		}
		if l, err := netlink.LinkByIndex(index); err == nil && !slices.Contains(names, l.Attrs().Name) {
			names = append(names, l.Attrs().Name)
		}
	}
	for _, r := range routes {
		if r.Dst != nil && (r.Dst.IP.To4() == nil || !r.Dst.IP.Equal(net.IPv4zero) || bits(r.Dst) != 0) {
			continue
		}
		add(r.LinkIndex)
		for _, nh := range r.MultiPath {
			add(nh.LinkIndex)
		}
	}
	slices.Sort(names)
	return names, nil
}

func bits(n *net.IPNet) int {
	ones, _ := n.Mask.Size()
	return ones
}

func table() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
}

// install writes the table: one chain on the postrouting hook, where every packet leaving the
// machine passes whether the machine made or forwarded it, with one counted drop per uplink and
// range. Without an uplink the chain stays empty: nothing leaves.
func install(uplinks []string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tbl := c.AddTable(table())
	policy := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "guard", Table: tbl, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityFilter, Policy: &policy})
	c.FlushChain(ch)
	for _, ifc := range uplinks {
		for _, r := range Ranges {
			c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: dropRule(ifc, r)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("installing table %s: %w", TableName, err)
	}
	return nil
}

// dropRule is `oifname IFC ip daddr PREFIX counter drop`.
func dropRule(ifc string, p netip.Prefix) []expr.Any {
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, ifc)
	mask := net.CIDRMask(p.Bits(), 32)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

func remove() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	c.DelTable(table())
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing table %s: %w", TableName, err)
	}
	return nil
}

// Installed reports whether the guard's table exists, and how many packets its rules dropped.
func Installed() (bool, uint64, error) {
	c, err := nftables.New()
	if err != nil {
		return false, 0, err
	}
	tbl, err := c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, 0, nil
		}
		return false, 0, err
	}
	rules, err := c.GetRules(tbl, &nftables.Chain{Name: "guard", Table: tbl})
	if err != nil {
		return true, 0, err
	}
	var dropped uint64
	for _, r := range rules {
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				dropped += ctr.Packets
			}
		}
	}
	return true, dropped, nil
}
