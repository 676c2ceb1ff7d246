package allocator

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// maxHostBits bounds a service range: a bigger one would make a bitmap of megabytes that every
// allocation rewrites. Upstream refuses the same (a /12 for IPv4, a /108 for IPv6).
const maxHostBits = 20

// IPRange maps the usable addresses of a service CIDR to offsets. Offset 0 is the first address
// after the network address (the kubernetes Service's); the IPv4 broadcast address is not usable.
type IPRange struct {
	Prefix netip.Prefix
	size   int
}

// ParseServiceCIDR checks a --service-cluster-ip-range value.
func ParseServiceCIDR(s string) (IPRange, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return IPRange{}, fmt.Errorf("invalid service CIDR %q: %w", s, err)
	}
	if strings.Contains(s, ",") {
		return IPRange{}, fmt.Errorf("invalid service CIDR %q: dual-stack ranges are not supported", s)
	}
	if p.Masked() != p {
		return IPRange{}, fmt.Errorf("invalid service CIDR %q: host bits are set (did you mean %s?)", s, p.Masked())
	}
	host := p.Addr().BitLen() - p.Bits()
	if host > maxHostBits {
		return IPRange{}, fmt.Errorf("service CIDR %s is too large: the prefix length must be at least /%d", s, p.Addr().BitLen()-maxHostBits)
	}
	size := 1<<host - 1 // all but the network address
	if p.Addr().Is4() {
		size-- // and the broadcast address
	}
	if size < 2 {
		return IPRange{}, fmt.Errorf("service CIDR %s is too small: it needs room for the kubernetes Service and one more", s)
	}
	return IPRange{Prefix: p, size: size}, nil
}

// Size is the number of usable addresses.
func (r IPRange) Size() int { return r.size }

func (r IPRange) String() string { return r.Prefix.String() }

// low32 is the address's last four bytes: host bits never reach beyond them.
func low32(a netip.Addr) uint32 {
	b := a.As16()
	return binary.BigEndian.Uint32(b[12:])
}

// Offset is the offset of ip, or false when ip is not a usable address of the range.
func (r IPRange) Offset(ip netip.Addr) (int, bool) {
	ip = ip.Unmap()
	if !r.Prefix.Contains(ip) {
		return 0, false
	}
	off := int(low32(ip)-low32(r.Prefix.Addr())) - 1
	if off < 0 || off >= r.size {
		return 0, false
	}
	return off, true
}

// Addr is the address at offset off.
func (r IPRange) Addr(off int) netip.Addr {
	b := r.Prefix.Addr().As16()
	binary.BigEndian.PutUint32(b[12:], low32(r.Prefix.Addr())+uint32(off)+1)
	a := netip.AddrFrom16(b)
	if r.Prefix.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

// First is the range's first usable address, the kubernetes Service's.
func (r IPRange) First() netip.Addr { return r.Addr(0) }

// staticBand is how many offsets at the start of the range dynamic allocation leaves until the
// rest is full (upstream's formula, KEP-3070): min(max(16, size/16), 256).
func (r IPRange) staticBand() int { return min(max(16, r.size/16), 256) }

// PortRange is an inclusive range of node ports.
type PortRange struct {
	Base, Size int
}

// ParsePortRange reads "30000-32767", "30000+2767" or "30000".
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (PortRange, error) {
		return PortRange{}, fmt.Errorf("invalid port range %q: %s", s, why)
	}
	num := func(v string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 65535 {
			return 0, fmt.Errorf("%q is not a port number", v)
		}
		return n, nil
	}
	var lo, hi int
	var err error
	switch {
	case strings.Contains(s, "-"):
		a, b, _ := strings.Cut(s, "-")
		if lo, err = num(a); err != nil {
			return bad(err.Error())
		}
		if hi, err = num(b); err != nil {
			return bad(err.Error())
		}
	case strings.Contains(s, "+"):
		a, b, _ := strings.Cut(s, "+")
		if lo, err = num(a); err != nil {
			return bad(err.Error())
		}
		n, err := strconv.Atoi(strings.TrimSpace(b))
		if err != nil || n < 0 {
			return bad("the offset after + must be a non-negative number")
		}
		hi = lo + n
		if hi > 65535 {
			return bad("it ends past 65535")
		}
	default:
		if lo, err = num(s); err != nil {
			return bad(err.Error())
		}
		hi = lo
	}
	if hi < lo {
		return bad("the end is before the start")
	}
	return PortRange{Base: lo, Size: hi - lo + 1}, nil
}

// String is the form upstream prints in errors: "30000-32767".
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Base, r.Base+r.Size-1) }

// Offset is the offset of port, or false when it is outside the range.
func (r PortRange) Offset(port int) (int, bool) {
	off := port - r.Base
	return off, off >= 0 && off < r.Size
}

// staticBand is upstream's band kept for requested ports: min(max(16, size/32), 128).
func (r PortRange) staticBand() int { return min(max(16, r.Size/32), 128) }
