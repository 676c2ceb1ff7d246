package netguard

import (
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/skiff-dev/skiff/internal/network/nettest"
)

// TestGuardDrops checks the rules in a namespace of their own that stands for a machine: an
// uplink with a default route, and a peer behind it that counts what arrives.
func TestGuardDrops(t *testing.T) {
	nettest.RequireRoot(t)
	lan := nettest.NewLAN(t, 2)
	machine, outside := lan.Hosts[0], lan.Hosts[1]
	h := machine.Netlink(t)
	eth, err := h.LinkByName(machine.Iface)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: outside.IP.AsSlice()}); err != nil {
		t.Fatal(err)
	}
	var uplinks []string
	if err := machine.Do(func() error {
		var err error
		if uplinks, err = Uplinks(); err != nil {
			return err
		}
		return install(uplinks)
	}); err != nil {
		t.Fatal(err)
	}
	if len(uplinks) != 1 || uplinks[0] != machine.Iface {
		t.Fatalf("uplinks = %v, want [%s]", uplinks, machine.Iface)
	}
	// Installing again (another process) is harmless.
	if err := machine.Do(func() error { return install(uplinks) }); err != nil {
		t.Fatal(err)
	}
	// The peer takes every address, as a router would, and counts UDP datagrams.
	oh := outside.Netlink(t)
	oeth, _ := oh.LinkByName(outside.Iface)
	for _, a := range []string{"10.244.1.1/32", "10.100.0.1/32", "192.0.2.9/32"} {
		addr, _ := netlink.ParseAddr(a)
		if err := oh.AddrAdd(oeth, addr); err != nil {
			t.Fatal(err)
		}
	}
	received := func(dst string) bool {
		ln, err := outside.Listen("tcp", net.JoinHostPort(dst, "7000"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Close()
			}
		}()
		var c net.Conn
		err = machine.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp", net.JoinHostPort(dst, "7000"), 500*time.Millisecond)
			return err
		})
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if !received("192.0.2.9") {
		t.Fatal("an unguarded address is unreachable: the test setup is broken")
	}
	for _, dst := range []string{"10.244.1.1", "10.100.0.1"} {
		if received(dst) {
			t.Errorf("a connection to %s left through the uplink", dst)
		}
	}
	var present bool
	var dropped uint64
	machine.Do(func() error {
		var err error
		present, dropped, err = Installed()
		return err
	})
	if !present || dropped == 0 {
		t.Errorf("Installed() = %v, %d dropped; want the table with drops counted", present, dropped)
	}
	if err := machine.Do(remove); err != nil {
		t.Fatal(err)
	}
	if err := machine.Do(remove); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if !received("10.244.1.1") {
		t.Error("still dropped after the table was removed")
	}
}

// TestEnsure installs the real guard in this machine's namespace; it must be there while the
// test runs.
func TestEnsure(t *testing.T) {
	nettest.RequireRoot(t)
	t.Run("user", func(t *testing.T) {
		Ensure(t)
		Ensure(t) // a second user in the same process
		present, _, err := Installed()
		if err != nil || !present {
			t.Fatalf("Installed() = %v, %v while in use", present, err)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if users != 0 || lock != nil {
		t.Errorf("after the users ended: %d users, lock held %v", users, lock != nil)
	}
}
