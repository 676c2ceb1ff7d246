package proxy

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The rule model: a rule is a list of statements, each rendered the way `nft list` would show it
// (the rendering is what the model compares, so two rules that render alike are alike) and
// translated to netlink expressions by the writer (nft.go).

// stmt is one match or action of a rule.
type stmt interface{ String() string }

type rule []stmt

func (r rule) String() string {
	parts := make([]string, len(r))
	for i, s := range r {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// Matches.
type (
	srcIs       struct{ IP netip.Addr }       // ip saddr A
	srcIn       struct{ Prefix netip.Prefix } // ip saddr P
	srcNotIn    struct{ Prefix netip.Prefix } // ip saddr != P
	dstIn       struct{ Prefix netip.Prefix } // ip daddr P
	dstNotIn    struct{ Prefix netip.Prefix } // ip daddr != P
	l4protoIs   struct{ Proto uint8 }
	fibSrcLocal struct{} // fib saddr type local
	fibDstLocal struct{} // fib daddr type local
	ctNew       struct{}
	markClear   struct{}             // meta mark & masqBit == 0
	srcInSet    struct{ Set string } // ip saddr @set
)

func (s srcIs) String() string     { return "ip saddr " + s.IP.String() }
func (s srcIn) String() string     { return "ip saddr " + s.Prefix.String() }
func (s srcNotIn) String() string  { return "ip saddr != " + s.Prefix.String() }
func (s dstIn) String() string     { return "ip daddr " + s.Prefix.String() }
func (s dstNotIn) String() string  { return "ip daddr != " + s.Prefix.String() }
func (s l4protoIs) String() string { return "meta l4proto " + protoName(s.Proto) }
func (fibSrcLocal) String() string { return "fib saddr type local" }
func (fibDstLocal) String() string { return "fib daddr type local" }
func (ctNew) String() string       { return "ct state new" }
func (markClear) String() string   { return fmt.Sprintf("meta mark & 0x%x == 0", masqBit) }
func (s srcInSet) String() string  { return "ip saddr @" + s.Set }

// Lookups into the table's verdict maps.
type (
	// dstProtoPortVmap: ip daddr . meta l4proto . th dport vmap @Map
	dstProtoPortVmap struct{ Map string }
	// protoPortVmap: meta l4proto . th dport vmap @Map
	protoPortVmap struct{ Map string }
)

func (s dstProtoPortVmap) String() string { return "ip daddr . meta l4proto . th dport vmap @" + s.Map }
func (s protoPortVmap) String() string    { return "meta l4proto . th dport vmap @" + s.Map }

// Actions.
type (
	jumpTo    struct{ Chain string }
	gotoChain struct{ Chain string }
	returnV   struct{}
	// numgenVmap: numgen random mod len(Chains) vmap { 0 : goto Chains[0], ... }
	numgenVmap struct{ Chains []string }
	dnatTo     struct {
		IP   netip.Addr
		Port uint16
	}
	masquerade  struct{}
	setMasqBit  struct{} // meta mark set meta mark | masqBit
	flipMasqBit struct{} // meta mark set meta mark ^ masqBit
	rejectTCP   struct{}
	rejectICMP  struct{}
	// updateSet: update @Set { ip saddr } (the set's elements time out after Timeout)
	updateSet struct {
		Set     string
		Timeout time.Duration
	}
)

func (s jumpTo) String() string    { return "jump " + s.Chain }
func (s gotoChain) String() string { return "goto " + s.Chain }
func (returnV) String() string     { return "return" }
func (s numgenVmap) String() string {
	parts := make([]string, len(s.Chains))
	for i, c := range s.Chains {
		parts[i] = fmt.Sprintf("%d : goto %s", i, c)
	}
	return fmt.Sprintf("numgen random mod %d vmap { %s }", len(s.Chains), strings.Join(parts, ", "))
}
func (s dnatTo) String() string    { return fmt.Sprintf("dnat to %s:%d", s.IP, s.Port) }
func (masquerade) String() string  { return "masquerade fully-random" }
func (setMasqBit) String() string  { return fmt.Sprintf("meta mark set meta mark | 0x%x", masqBit) }
func (flipMasqBit) String() string { return fmt.Sprintf("meta mark set meta mark ^ 0x%x", masqBit) }
func (rejectTCP) String() string   { return "reject with tcp reset" }
func (rejectICMP) String() string  { return "reject with icmp port-unreachable" }
func (s updateSet) String() string {
	return fmt.Sprintf("update @%s { ip saddr timeout %s }", s.Set, s.Timeout)
}

// masqBit marks a packet for masquerading in postrouting.
const masqBit = 0x4000

const (
	protoTCP  = 6
	protoUDP  = 17
	protoSCTP = 132
)

func protoName(p uint8) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoSCTP:
		return "sctp"
	}
	return fmt.Sprint(p)
}
