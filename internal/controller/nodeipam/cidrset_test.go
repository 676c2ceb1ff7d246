package nodeipam

import (
	"net/netip"
	"testing"
)

func TestCIDRSet(t *testing.T) {
	pp := netip.MustParsePrefix
	cases := []struct {
		name     string
		cluster  string
		mask     int
		occupy   []string
		release  []string
		want     []string // successive allocations; "" means full
		wantFree int
	}{
		{name: "in order", cluster: "10.244.0.0/16", mask: 24,
			want: []string{"10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"}, wantFree: 253},
		{name: "skips occupied", cluster: "10.244.0.0/16", mask: 24, occupy: []string{"10.244.0.0/24", "10.244.1.0/24"},
			want: []string{"10.244.2.0/24"}, wantFree: 253},
		{name: "a larger prefix blocks every subnet it covers", cluster: "10.244.0.0/22", mask: 24, occupy: []string{"10.244.0.0/23"},
			want: []string{"10.244.2.0/24", "10.244.3.0/24", ""}, wantFree: 0},
		{name: "a smaller prefix blocks its subnet", cluster: "10.244.0.0/23", mask: 24, occupy: []string{"10.244.0.128/25"},
			want: []string{"10.244.1.0/24", ""}, wantFree: 0},
		{name: "outside the range is ignored", cluster: "10.244.0.0/23", mask: 24, occupy: []string{"198.19.0.0/24", "fd00::/64"},
			want: []string{"10.244.0.0/24", "10.244.1.0/24", ""}, wantFree: 0},
		{name: "released range is reused only after the others", cluster: "10.244.0.0/22", mask: 24,
			occupy: []string{"10.244.0.0/24", "10.244.1.0/24"}, release: []string{"10.244.0.0/24"},
			want: []string{"10.244.2.0/24", "10.244.3.0/24", "10.244.0.0/24", ""}, wantFree: 0},
		{name: "mask equal to the cluster's gives one range", cluster: "10.0.0.0/24", mask: 24,
			want: []string{"10.0.0.0/24", ""}, wantFree: 0},
		{name: "ipv6", cluster: "fd00:10::/56", mask: 64,
			want: []string{"fd00:10::/64", "fd00:10:0:1::/64"}, wantFree: 254},
		{name: "unmasked cluster CIDR is masked", cluster: "10.244.7.9/16", mask: 17,
			want: []string{"10.244.0.0/17", "10.244.128.0/17", ""}, wantFree: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newCIDRSet(pp(tc.cluster), tc.mask)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range tc.occupy {
				s.occupy(pp(o))
			}
			// Advance the search past the occupied ones, as allocations would have.
			for _, r := range tc.release {
				s.next = s.index(pp(r).Addr()) + 1
				s.release(pp(r))
			}
			for i, w := range tc.want {
				got, err := s.allocate()
				if w == "" {
					if err != errFull {
						t.Fatalf("allocation %d = %v, %v; want full", i, got, err)
					}
					continue
				}
				if err != nil || got != pp(w) {
					t.Fatalf("allocation %d = %v, %v; want %s", i, got, err, w)
				}
			}
			if s.free != tc.wantFree {
				t.Errorf("free = %d, want %d", s.free, tc.wantFree)
			}
		})
	}
}

func TestCIDRSetBadSizes(t *testing.T) {
	for _, tc := range []struct {
		cluster string
		mask    int
	}{
		{"10.244.0.0/16", 15},
		{"10.244.0.0/16", 33},
		{"10.0.0.0/8", 25}, // 2^17 subnets
		{"fd00::/48", 129},
	} {
		if _, err := newCIDRSet(netip.MustParsePrefix(tc.cluster), tc.mask); err == nil {
			t.Errorf("newCIDRSet(%s, %d): no error", tc.cluster, tc.mask)
		}
	}
}
