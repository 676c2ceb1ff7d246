package nettest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

func TestNames(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"TestLAN/three_hosts", 20, "testlan.three.hosts"},
		{"TestX", 20, "testx"},
		{"A//B", 20, "a.b"},
		{"TestAVeryLongNameThatGoesOn", 8, "testaver"},
		{"host0", 12, "host0"},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in, tt.max); got != tt.want {
			t.Errorf("sanitize(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
	owners := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"skt1234-testx-abcdef-host0", 1234, true},
		{"skt-testx", 0, false},
		{"sktx12-a", 0, false},
		{"cni-1234", 0, false},
		{"skt42", 0, false},
	}
	for _, o := range owners {
		pid, ok := ownerPID(o.name)
		if pid != o.pid || ok != o.ok {
			t.Errorf("ownerPID(%q) = %d, %v; want %d, %v", o.name, pid, ok, o.pid, o.ok)
		}
	}
	if got := nthAddr(ClusterCIDR, 3<<8); got != netip.MustParseAddr("198.19.3.0") {
		t.Errorf("nthAddr = %s, want 198.19.3.0", got)
	}
}

func TestLAN(t *testing.T) {
	RequireRoot(t)
	rootLinks := linkNames(t, nil)

	t.Run("hosts", func(t *testing.T) {
		lan := NewLAN(t, 3)
		if len(lan.Hosts) != 3 {
			t.Fatalf("%d hosts, want 3", len(lan.Hosts))
		}
		seen := map[netip.Addr]bool{}
		for i, h := range lan.Hosts {
			if !lan.Subnet.Contains(h.IP) || seen[h.IP] {
				t.Errorf("host %d IP %s: outside %s or duplicate", i, h.IP, lan.Subnet)
			}
			seen[h.IP] = true
			if h.PodCIDR.Bits() != 24 || !ClusterCIDR.Contains(h.PodCIDR.Addr()) {
				t.Errorf("host %d pod CIDR %s not a /24 of %s", i, h.PodCIDR, ClusterCIDR)
			}
			// The host has exactly lo and eth0 and no default route: nothing leaves the LAN.
			names := linkNames(t, h.Namespace)
			if strings.Join(names, ",") != "eth0,lo" {
				t.Errorf("host %d links = %v, want [eth0 lo]", i, names)
			}
			routes, err := h.Netlink(t).RouteList(nil, netlink.FAMILY_V4)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range routes {
				if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
					t.Errorf("host %d has a default route %v", i, r)
				}
			}
		}

		// Every host reaches every other host over TCP.
		for _, server := range lan.Hosts {
			l, err := server.Listen("tcp", netip.AddrPortFrom(server.IP, 7000).String())
			if err != nil {
				t.Fatalf("listen on %s: %v", server.Name, err)
			}
			go serveName(l, server.Name)
			for _, client := range lan.Hosts {
				if client == server {
					continue
				}
				got := fetch(t, client.Namespace, netip.AddrPortFrom(server.IP, 7000).String())
				if got != server.Name {
					t.Errorf("%s -> %s answered %q", client.Name, server.Name, got)
				}
			}
			l.Close()
		}

		// A host cannot reach anything outside the LAN.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if c, err := lan.Hosts[0].DialContext(ctx, "tcp", "192.0.2.1:80"); err == nil {
			c.Close()
			t.Error("a host reached 192.0.2.1 outside the LAN")
		} else if !isUnreachable(err) {
			t.Errorf("dial outside the LAN: %v, want network unreachable", err)
		}

		// A command started in a host runs in that host's namespace.
		var out bytes.Buffer
		cmd := exec.Command("readlink", "/proc/self/ns/net")
		cmd.Stdout = &out
		if err := lan.Hosts[1].Run(cmd); err != nil {
			t.Fatalf("run in host: %v", err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(lan.Hosts[1].Path, &st); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("net:[%d]", st.Ino); strings.TrimSpace(out.String()) != want {
			t.Errorf("command ran in %q, want %s", strings.TrimSpace(out.String()), want)
		}

		if left := Remaining(t); len(left) == 0 {
			t.Fatal("leftovers() finds nothing while the LAN exists: the check below would prove nothing")
		}
	})

	if left := Remaining(t); len(left) > 0 {
		t.Errorf("left behind after cleanup:\n%s", strings.Join(left, "\n"))
	}
	// Other processes on the machine may add links to the root namespace meanwhile; only names
	// this package gives its links would be ours.
	for _, name := range linkNames(t, nil) {
		if (name == "lan0" || strings.HasPrefix(name, "port")) && !slices.Contains(rootLinks, name) {
			t.Errorf("link %s appeared in the root namespace", name)
		}
	}
}

func TestParallelLANsDoNotCollide(t *testing.T) {
	RequireRoot(t)
	for i := range 2 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			lan := NewLAN(t, 2)
			l, err := lan.Hosts[0].Listen("tcp", netip.AddrPortFrom(lan.Hosts[0].IP, 7000).String())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go serveName(l, lan.Hosts[0].Name)
			if got := fetch(t, lan.Hosts[1].Namespace, netip.AddrPortFrom(lan.Hosts[0].IP, 7000).String()); got != lan.Hosts[0].Name {
				t.Errorf("same address in a parallel LAN answered %q, want %q", got, lan.Hosts[0].Name)
			}
		})
	}
}

func TestSweepRemovesOnlyDeadOwners(t *testing.T) {
	RequireRoot(t)
	// PID 0x7fffffff never exists; our own PID always does.
	deadPath := fmt.Sprintf("%s/%s%d-sweep-%s", RunDir, namePrefix, 1<<31-1, randSuffix())
	if err := create(deadPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remove(deadPath) })
	live := NewNamespace(t, "live")
	sweepStale()
	if _, err := os.Stat(deadPath); !os.IsNotExist(err) {
		t.Errorf("sweep kept %s of a dead process: %v", deadPath, err)
	}
	if _, err := os.Stat(live.Path); err != nil {
		t.Errorf("sweep removed %s of a live process: %v", live.Path, err)
	}
}

func serveName(l net.Listener, name string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, name+"\n")
		c.Close()
	}
}

func fetch(t *testing.T, from *Namespace, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := from.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from.Name, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return strings.TrimSpace(line)
}

func isUnreachable(err error) bool {
	return strings.Contains(err.Error(), "network is unreachable")
}

// linkNames lists the links of ns, or of the process's own namespace when ns is nil, sorted.
func linkNames(t *testing.T, ns *Namespace) []string {
	t.Helper()
	h := &netlink.Handle{}
	if ns != nil {
		h = ns.Netlink(t)
	}
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
