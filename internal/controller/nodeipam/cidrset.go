package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
)

// maxSubnetBits bounds how many subnets one cluster CIDR is cut into (2^16), as upstream does:
// the bitmap stays small and a full scan cheap.
const maxSubnetBits = 16

// errFull says every subnet of the cluster CIDR is taken.
var errFull = errors.New("no pod CIDR left in the cluster CIDR")

// cidrSet hands out the equal-sized subnets of one IPv4 or IPv6 range. It is not safe for
// concurrent use; the controller serialises access.
type cidrSet struct {
	cluster netip.Prefix
	bits    int // the subnets' prefix length
	used    []bool
	free    int
	next    int // where the next search starts, so a just-released range is not reused at once
}

func newCIDRSet(cluster netip.Prefix, maskSize int) (*cidrSet, error) {
	cluster = cluster.Masked()
	if !cluster.IsValid() {
		return nil, errors.New("invalid cluster CIDR")
	}
	if maskSize < cluster.Bits() || maskSize > cluster.Addr().BitLen() {
		return nil, fmt.Errorf("node CIDR mask size %d must be between the cluster CIDR's %d and %d", maskSize, cluster.Bits(), cluster.Addr().BitLen())
	}
	if maskSize-cluster.Bits() > maxSubnetBits {
		return nil, fmt.Errorf("node CIDR mask size %d cuts %s into more than 2^%d subnets", maskSize, cluster, maxSubnetBits)
	}
	n := 1 << (maskSize - cluster.Bits())
	return &cidrSet{cluster: cluster, bits: maskSize, used: make([]bool, n), free: n}, nil
}

// subnet returns the i-th subnet.
func (s *cidrSet) subnet(i int) netip.Prefix {
	base := new(big.Int).SetBytes(s.cluster.Addr().AsSlice())
	off := new(big.Int).Lsh(big.NewInt(int64(i)), uint(s.cluster.Addr().BitLen()-s.bits))
	base.Add(base, off)
	b := base.FillBytes(make([]byte, s.cluster.Addr().BitLen()/8))
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, s.bits)
}

// index returns the position of address a's subnet; a must be inside the cluster CIDR.
func (s *cidrSet) index(a netip.Addr) int {
	base := new(big.Int).SetBytes(s.cluster.Addr().AsSlice())
	v := new(big.Int).SetBytes(a.AsSlice())
	v.Sub(v, base)
	v.Rsh(v, uint(s.cluster.Addr().BitLen()-s.bits))
	return int(v.Int64())
}

// span returns the subnets p covers or lies in, and whether p overlaps the cluster CIDR at all.
// A prefix of another size than the subnets (set by hand or by an older flag) still blocks every
// subnet it touches.
func (s *cidrSet) span(p netip.Prefix) (first, last int, ok bool) {
	p = p.Masked()
	if !p.IsValid() || p.Addr().Is4() != s.cluster.Addr().Is4() || !p.Overlaps(s.cluster) {
		return 0, 0, false
	}
	if p.Bits() <= s.cluster.Bits() {
		return 0, len(s.used) - 1, true
	}
	first = s.index(p.Addr())
	if p.Bits() >= s.bits {
		return first, first, true
	}
	return first, first + 1<<(s.bits-p.Bits()) - 1, true
}

// allocate takes the next free subnet.
func (s *cidrSet) allocate() (netip.Prefix, error) {
	if s.free == 0 {
		return netip.Prefix{}, errFull
	}
	for k := range len(s.used) {
		i := (s.next + k) % len(s.used)
		if !s.used[i] {
			s.used[i] = true
			s.free--
			s.next = (i + 1) % len(s.used)
			return s.subnet(i), nil
		}
	}
	return netip.Prefix{}, errFull
}

// occupy marks every subnet p touches as taken; it reports false when p is outside the range.
func (s *cidrSet) occupy(p netip.Prefix) bool {
	first, last, ok := s.span(p)
	if !ok {
		return false
	}
	for i := first; i <= last; i++ {
		if !s.used[i] {
			s.used[i] = true
			s.free--
		}
	}
	return true
}

// release frees every subnet p touches.
func (s *cidrSet) release(p netip.Prefix) {
	first, last, ok := s.span(p)
	if !ok {
		return
	}
	for i := first; i <= last; i++ {
		if s.used[i] {
			s.used[i] = false
			s.free++
		}
	}
}
