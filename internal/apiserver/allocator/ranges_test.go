package allocator

import (
	"net/netip"
	"testing"
)

func TestParseServiceCIDR(t *testing.T) {
	tests := []struct {
		in    string
		size  int
		first string
		err   bool
	}{
		{in: "10.96.0.0/12", size: 1<<20 - 2, first: "10.96.0.1"},
		{in: "10.0.0.0/29", size: 6, first: "10.0.0.1"},
		{in: "10.0.0.0/30", size: 2, first: "10.0.0.1"},
		{in: "fd00::/108", size: 1<<20 - 1, first: "fd00::1"},
		{in: "fd00:1::/120", size: 255, first: "fd00:1::1"},
		{in: "10.0.0.0/31", err: true},
		{in: "10.0.0.0/8", err: true},
		{in: "fd00::/64", err: true},
		{in: "10.96.0.1/12", err: true},
		{in: "10.96.0.0", err: true},
		{in: "10.96.0.0/12,fd00::/108", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		r, err := ParseServiceCIDR(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseServiceCIDR(%q) err = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if r.Size() != tt.size || r.First().String() != tt.first {
			t.Errorf("ParseServiceCIDR(%q) = size %d first %s, want %d %s", tt.in, r.Size(), r.First(), tt.size, tt.first)
		}
	}
}

func TestIPRangeOffsets(t *testing.T) {
	r, err := ParseServiceCIDR("10.96.0.0/12")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip  string
		off int
		ok  bool
	}{
		{"10.96.0.1", 0, true},
		{"10.96.0.10", 9, true},
		{"10.96.1.0", 255, true},
		{"10.111.255.254", 1<<20 - 3, true},
		{"10.96.0.0", 0, false},      // network
		{"10.111.255.255", 0, false}, // broadcast
		{"10.112.0.1", 0, false},
		{"192.168.0.1", 0, false},
		{"::ffff:10.96.0.5", 4, true},
		{"fd00::1", 0, false},
	}
	for _, tt := range tests {
		off, ok := r.Offset(netip.MustParseAddr(tt.ip))
		if ok != tt.ok || (ok && off != tt.off) {
			t.Errorf("Offset(%s) = %d, %v; want %d, %v", tt.ip, off, ok, tt.off, tt.ok)
		}
		if ok {
			if back := r.Addr(off); back != netip.MustParseAddr(tt.ip).Unmap() {
				t.Errorf("Addr(%d) = %s, want %s", off, back, tt.ip)
			}
		}
	}
	v6, _ := ParseServiceCIDR("fd00::/108")
	last := v6.Addr(v6.Size() - 1)
	if last.String() != "fd00::f:ffff" {
		t.Errorf("last IPv6 address = %s", last)
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in   string
		want PortRange
		str  string
		err  bool
	}{
		{in: "30000-32767", want: PortRange{30000, 2768}, str: "30000-32767"},
		{in: " 30000 - 30010 ", want: PortRange{30000, 11}, str: "30000-30010"},
		{in: "30000+9", want: PortRange{30000, 10}, str: "30000-30009"},
		{in: "8080", want: PortRange{8080, 1}, str: "8080-8080"},
		{in: "1-65535", want: PortRange{1, 65535}, str: "1-65535"},
		{in: "32767-30000", err: true},
		{in: "0-10", err: true},
		{in: "30000-70000", err: true},
		{in: "65000+1000", err: true},
		{in: "abc", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		got, err := ParsePortRange(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParsePortRange(%q) err = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && (got != tt.want || got.String() != tt.str) {
			t.Errorf("ParsePortRange(%q) = %+v %q, want %+v %q", tt.in, got, got.String(), tt.want, tt.str)
		}
	}
	r := PortRange{30000, 2768}
	for port, ok := range map[int]bool{29999: false, 30000: true, 32767: true, 32768: false} {
		if _, got := r.Offset(port); got != ok {
			t.Errorf("Offset(%d) ok = %v, want %v", port, got, ok)
		}
	}
}
