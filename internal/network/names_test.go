package network

import (
	"strings"
	"testing"
)

func TestBridgeName(t *testing.T) {
	tests := []struct {
		node       string
		wantPrefix string
	}{
		{"node-1", "sknode1-"},
		{"node-2", "sknode2-"},
		{"worker.example.com", "skworke-"},
		{"A", "ska-"},
		{"", "sk-"},
		{"ünïcode-名前", "skncode-"},
		{strings.Repeat("x", 253), "skxxxxx-"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := BridgeName(tt.node)
		if err := validLinkName(got); err != nil {
			t.Errorf("BridgeName(%q) = %q: %v", tt.node, got, err)
		}
		if !strings.HasPrefix(got, tt.wantPrefix) || len(got) != len(tt.wantPrefix)+7 {
			t.Errorf("BridgeName(%q) = %q, want %s and 7 hex digits", tt.node, got, tt.wantPrefix)
		}
		if got != BridgeName(tt.node) {
			t.Errorf("BridgeName(%q) is not stable", tt.node)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("BridgeName(%q) = BridgeName(%q) = %q", tt.node, prev, got)
		}
		seen[got] = tt.node
	}
	// Names that share the readable part still differ.
	if BridgeName("node-10") == BridgeName("node-100") {
		t.Error("node-10 and node-100 share a bridge name")
	}
}

func TestHostVethName(t *testing.T) {
	a := HostVethName("0b7e4b2c-6d1f-4c52-9a63-2f0c1a9d8e11")
	b := HostVethName("0b7e4b2c-6d1f-4c52-9a63-2f0c1a9d8e12")
	for _, n := range []string{a, b} {
		if len(n) != 15 || !strings.HasPrefix(n, "skv") {
			t.Errorf("HostVethName = %q, want skv and 12 hex digits", n)
		}
	}
	if a == b {
		t.Errorf("two UIDs share veth name %q", a)
	}
	if a != HostVethName("0b7e4b2c-6d1f-4c52-9a63-2f0c1a9d8e11") {
		t.Error("HostVethName is not stable")
	}
}

func TestBridgeMAC(t *testing.T) {
	m := bridgeMAC("sknode1-abcdef0")
	if m[0]&0x01 != 0 || m[0]&0x02 == 0 {
		t.Errorf("bridgeMAC = %s, want a locally administered unicast address", m)
	}
	if m.String() != bridgeMAC("sknode1-abcdef0").String() || m.String() == bridgeMAC("sknode2-abcdef0").String() {
		t.Error("bridgeMAC is not stable per name, or not distinct across names")
	}
}

func TestNewValidatesConfig(t *testing.T) {
	ok := Config{BridgeName: "skbr0", PodCIDR: "10.244.0.0/24", StateDir: t.TempDir()}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"empty bridge", func(c *Config) { c.BridgeName = "" }, "bridge name"},
		{"long bridge", func(c *Config) { c.BridgeName = "abcdefghijklmnop" }, "bridge name"},
		{"slash in bridge", func(c *Config) { c.BridgeName = "a/b" }, "bridge name"},
		{"bad CIDR", func(c *Config) { c.PodCIDR = "10.244.0.0" }, "pod CIDR"},
		{"IPv6 CIDR", func(c *Config) { c.PodCIDR = "fd00::/64" }, "IPv4"},
		{"tiny CIDR", func(c *Config) { c.PodCIDR = "10.0.0.0/31" }, "too small"},
		{"MTU too small", func(c *Config) { c.MTU = 60 }, "MTU"},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "state dir"},
		{"missing netns", func(c *Config) { c.NetNS = "/nonexistent/netns" }, "node namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mutate(&cfg)
			n, err := New(cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				defer n.Close()
				if n.Gateway().String() != "10.244.0.1" || n.PodCIDR().String() != "10.244.0.0/24" || n.cfg.MTU != DefaultMTU {
					t.Errorf("gateway %s, CIDR %s, MTU %d", n.Gateway(), n.PodCIDR(), n.cfg.MTU)
				}
				return
			}
			if err == nil {
				n.Close()
				t.Fatalf("New succeeded, want an error about %s", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}
