package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// Names of the table's fixed maps and chains. Per-Service chains and sets are named by
// serviceChain/endpointChain/affinitySet and never collide with these.
const (
	mapServiceIPs          = "service-ips"           // ip . proto . port : goto a Service's chain
	mapServiceNodePorts    = "service-nodeports"     // proto . port : goto a Service's external chain
	mapNoEndpointServices  = "no-endpoint-services"  // ip . proto . port : goto reject-chain | drop
	mapNoEndpointNodePorts = "no-endpoint-nodeports" // proto . port : goto reject-chain | drop
	mapHostPortIPs         = "hostport-ips"          // ip . proto . port : goto a hostPort chain
	mapHostPortsAny        = "hostports-any"         // proto . port : goto a hostPort chain

	chainNatPrerouting  = "nat-prerouting"
	chainNatOutput      = "nat-output"
	chainNatPostrouting = "nat-postrouting"
	chainFilterInput    = "filter-input"
	chainFilterForward  = "filter-forward"
	chainFilterOutput   = "filter-output"
	chainServices       = "services"
	chainHostPorts      = "hostports"
	chainServiceChecks  = "service-checks"
	chainNodePortChecks = "nodeport-checks"
	chainMarkMasq       = "mark-for-masquerade"
	chainMasquerading   = "masquerading"
	chainReject         = "reject-chain"
)

// mapKind says what a map's key is made of.
type mapKind int

const (
	keyIPProtoPort mapKind = iota // ipv4_addr . inet_proto . inet_service
	keyProtoPort                  // inet_proto . inet_service
)

// fixedMaps are the verdict maps every table has.
var fixedMaps = map[string]mapKind{
	mapServiceIPs: keyIPProtoPort, mapServiceNodePorts: keyProtoPort,
	mapNoEndpointServices: keyIPProtoPort, mapNoEndpointNodePorts: keyProtoPort,
	mapHostPortIPs: keyIPProtoPort, mapHostPortsAny: keyProtoPort,
}

// elemKey is one key of one verdict map; IP is unset for proto . port maps.
type elemKey struct {
	Map   string
	IP    netip.Addr
	Proto uint8
	Port  uint16
}

func (k elemKey) String() string {
	if k.IP.IsValid() {
		return fmt.Sprintf("%s[%s . %s . %d]", k.Map, k.IP, protoName(k.Proto), k.Port)
	}
	return fmt.Sprintf("%s[%s . %d]", k.Map, protoName(k.Proto), k.Port)
}

// verdict is a map element's value: goto Chain, or drop when Chain is empty.
type verdict struct{ Chain string }

func (v verdict) String() string {
	if v.Chain == "" {
		return "drop"
	}
	return "goto " + v.Chain
}

// ruleset is what one owner (a Service, the hostPorts of a pod) puts in the table: chains with
// their rules, elements of the fixed maps, and sets of its own (ClientIP affinity).
type ruleset struct {
	Chains   map[string][]rule
	Elements map[elemKey]verdict
	Sets     map[string]time.Duration // set name -> element timeout
	// UDP lists the Service's UDP destinations, for conntrack cleanup; not written to the table.
	UDP []udpTarget
}

// udpTarget is a UDP Service port as the node's conntrack sees it.
type udpTarget struct {
	VIP       netip.Addr
	Port      uint16
	NodePort  uint16
	Endpoints []netip.Addr // the endpoints traffic may reach
}

func newRuleset() *ruleset {
	return &ruleset{Chains: map[string][]rule{}, Elements: map[elemKey]verdict{}, Sets: map[string]time.Duration{}}
}

func (r *ruleset) empty() bool {
	return r == nil || len(r.Chains) == 0 && len(r.Elements) == 0 && len(r.Sets) == 0
}

// delta turns one ruleset into another. The writer applies it in this order, which keeps every
// reference valid at every step of the batch: sets and chains are created first, chains are
// (re)written, elements go and come, and only then are chains and sets that nothing references
// any more deleted.
type delta struct {
	AddSets     []setSpec
	AddChains   []string
	WriteChains []chainWrite
	DelElems    []elemKey
	AddElems    []element
	DelChains   []string
	DelSets     []string
}

type setSpec struct {
	Name    string
	Timeout time.Duration
}

type chainWrite struct {
	Name  string
	Rules []rule
}

type element struct {
	Key     elemKey
	Verdict verdict
}

// unknownRules stands for the rules of a chain found in the table but not written by this
// process: they are rewritten on the first sync.
var unknownRules = []rule{{unknownStmt{}}}

type unknownStmt struct{}

func (unknownStmt) String() string { return "<unknown>" }

func (d *delta) empty() bool {
	return len(d.AddSets)+len(d.AddChains)+len(d.WriteChains)+len(d.DelElems)+len(d.AddElems)+len(d.DelChains)+len(d.DelSets) == 0
}

// size counts the netlink messages the delta makes, roughly: a batch is cut by it.
func (d *delta) size() int {
	n := len(d.AddSets) + len(d.AddChains) + len(d.DelElems) + len(d.AddElems) + 2*len(d.DelChains) + len(d.DelSets)
	for _, w := range d.WriteChains {
		n += 1 + 2*len(w.Rules)
	}
	return n
}

// merge appends o's operations to d's, keeping the phase order.
func (d *delta) merge(o *delta) {
	d.AddSets = append(d.AddSets, o.AddSets...)
	d.AddChains = append(d.AddChains, o.AddChains...)
	d.WriteChains = append(d.WriteChains, o.WriteChains...)
	d.DelElems = append(d.DelElems, o.DelElems...)
	d.AddElems = append(d.AddElems, o.AddElems...)
	d.DelChains = append(d.DelChains, o.DelChains...)
	d.DelSets = append(d.DelSets, o.DelSets...)
}

func (d *delta) String() string {
	var b strings.Builder
	for _, s := range d.AddSets {
		fmt.Fprintf(&b, "add set %s\n", s.Name)
	}
	for _, c := range d.AddChains {
		fmt.Fprintf(&b, "add chain %s\n", c)
	}
	for _, w := range d.WriteChains {
		fmt.Fprintf(&b, "write chain %s\n", w.Name)
		for _, r := range w.Rules {
			fmt.Fprintf(&b, "\t%s\n", r)
		}
	}
	for _, k := range d.DelElems {
		fmt.Fprintf(&b, "delete element %s\n", k)
	}
	for _, e := range d.AddElems {
		fmt.Fprintf(&b, "add element %s : %s\n", e.Key, e.Verdict)
	}
	for _, c := range d.DelChains {
		fmt.Fprintf(&b, "delete chain %s\n", c)
	}
	for _, s := range d.DelSets {
		fmt.Fprintf(&b, "delete set %s\n", s)
	}
	return b.String()
}

// diff is the delta from old to cur (either may be nil: an owner appears or goes). Its cost is
// the size of the two rulesets, never of the table.
func diff(old, cur *ruleset) *delta {
	if old == nil {
		old = newRuleset()
	}
	if cur == nil {
		cur = newRuleset()
	}
	d := &delta{}
	for _, name := range sortedKeys(cur.Sets) {
		if _, ok := old.Sets[name]; !ok {
			d.AddSets = append(d.AddSets, setSpec{name, cur.Sets[name]})
		}
	}
	for _, name := range sortedKeys(cur.Chains) {
		rules := cur.Chains[name]
		prev, ok := old.Chains[name]
		if !ok {
			d.AddChains = append(d.AddChains, name)
		}
		if !ok || !sameRules(prev, rules) {
			d.WriteChains = append(d.WriteChains, chainWrite{name, rules})
		}
	}
	for _, k := range sortedElemKeys(old.Elements) {
		if v, ok := cur.Elements[k]; !ok || v != old.Elements[k] {
			d.DelElems = append(d.DelElems, k)
		}
	}
	for _, k := range sortedElemKeys(cur.Elements) {
		if v, ok := old.Elements[k]; !ok || v != cur.Elements[k] {
			d.AddElems = append(d.AddElems, element{k, cur.Elements[k]})
		}
	}
	for _, name := range sortedKeys(old.Chains) {
		if _, ok := cur.Chains[name]; !ok {
			d.DelChains = append(d.DelChains, name)
		}
	}
	for _, name := range sortedKeys(old.Sets) {
		if _, ok := cur.Sets[name]; !ok {
			d.DelSets = append(d.DelSets, name)
		}
	}
	return d
}

func sameRules(a, b []rule) bool {
	return slices.EqualFunc(a, b, func(x, y rule) bool { return x.String() == y.String() })
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func sortedElemKeys(m map[elemKey]verdict) []elemKey {
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// hashName is a short, stable digest for names: chain names must be unique per Service port
// and endpoint, and readable parts alone (which may be cut) do not guarantee that.
func hashName(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return strings.ToUpper(base32.StdEncoding.EncodeToString(sum[:5]))
}
