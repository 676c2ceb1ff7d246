package dns

import (
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// DefaultTTL is the records' TTL in seconds (CoreDNS's default for the kubernetes plugin).
const DefaultTTL = 5

// srv is one SRV record's data.
type srv struct {
	port   uint16
	target string // lower-case FQDN
}

// node is what one name answers.
type node struct {
	a, aaaa []net.IP
	cname   string // FQDN, for ExternalName
	srv     []srv
}

// contribution is what one Service put in the zone, so that it can be taken out again.
type contribution struct {
	names map[string]*node
	ptrs  map[string][]string // reverse name -> targets
}

// Zone is the cluster domain's records. It is safe for concurrent use.
type Zone struct {
	domain string // lower-case FQDN, e.g. "cluster.local."
	ttl    uint32

	mu         sync.RWMutex
	names      map[string]*node
	ptrs       map[string]map[string][]string // reverse name -> service key -> targets
	services   map[string]*contribution
	namespaces map[string]bool
	serial     uint32
}

// NewZone returns an empty zone for domain (e.g. "cluster.local").
func NewZone(domain string, ttl uint32) *Zone {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	return &Zone{domain: mdns.Fqdn(strings.ToLower(domain)), ttl: ttl, names: map[string]*node{},
		ptrs: map[string]map[string][]string{}, services: map[string]*contribution{}, namespaces: map[string]bool{},
		serial: uint32(time.Now().Unix())}
}

// Domain is the zone's FQDN.
func (z *Zone) Domain() string { return z.domain }

// SetNamespace records whether a namespace exists (it decides NODATA against NXDOMAIN).
func (z *Zone) SetNamespace(name string, exists bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if exists {
		z.namespaces[strings.ToLower(name)] = true
	} else {
		delete(z.namespaces, strings.ToLower(name))
	}
	z.serial++
}

// SetService replaces the records of the Service key (namespace/name) with those of svc and its
// EndpointSlices; svc nil removes them.
func (z *Zone) SetService(key string, svc *corev1.Service, slices []*discoveryv1.EndpointSlice) {
	var c *contribution
	if svc != nil {
		c = build(z.domain, svc, slices)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if old := z.services[key]; old != nil {
		for name := range old.names {
			delete(z.names, name)
		}
		for rev := range old.ptrs {
			if m := z.ptrs[rev]; m != nil {
				delete(m, key)
				if len(m) == 0 {
					delete(z.ptrs, rev)
				}
			}
		}
		delete(z.services, key)
	}
	z.serial++
	if c == nil {
		return
	}
	z.services[key] = c
	for name, n := range c.names {
		z.names[name] = n
	}
	for rev, targets := range c.ptrs {
		m := z.ptrs[rev]
		if m == nil {
			m = map[string][]string{}
			z.ptrs[rev] = m
		}
		m[key] = targets
	}
}

// dashed is an address as one DNS label (CoreDNS's endpoint and pod naming).
func dashed(ip string) string {
	if strings.Contains(ip, ".") {
		return strings.ReplaceAll(ip, ".", "-")
	}
	return strings.ReplaceAll(ip, ":", "-")
}

// build computes one Service's records.
func build(domain string, svc *corev1.Service, slices []*discoveryv1.EndpointSlice) *contribution {
	c := &contribution{names: map[string]*node{}, ptrs: map[string][]string{}}
	base := strings.ToLower(svc.Name + "." + svc.Namespace + ".svc." + domain)
	get := func(name string) *node {
		n := c.names[name]
		if n == nil {
			n = &node{}
			c.names[name] = n
		}
		return n
	}
	addIP := func(n *node, ip net.IP) {
		if ip4 := ip.To4(); ip4 != nil {
			n.a = append(n.a, ip4)
		} else {
			n.aaaa = append(n.aaaa, ip)
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if svc.Spec.ExternalName != "" {
			get(base).cname = mdns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
		}
		return c
	}
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	// Ready endpoints, once each, in a stable order.
	type endpoint struct {
		ip    net.IP
		name  string
		ports []discoveryv1.EndpointPort
	}
	seen := map[string]bool{}
	var eps []endpoint
	for _, s := range slices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 || (e.Conditions.Ready != nil && !*e.Conditions.Ready) {
				continue
			}
			addr := e.Addresses[0]
			ip := net.ParseIP(addr)
			if ip == nil || seen[addr] {
				continue
			}
			seen[addr] = true
			name := dashed(addr)
			if e.Hostname != nil && *e.Hostname != "" {
				name = strings.ToLower(*e.Hostname)
			}
			eps = append(eps, endpoint{ip: ip, name: name, ports: s.Ports})
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].ip.String() < eps[j].ip.String() })
	for _, e := range eps {
		fqdn := e.name + "." + base
		addIP(get(fqdn), e.ip)
		c.ptrs[reverse(e.ip)] = append(c.ptrs[reverse(e.ip)], fqdn)
	}
	addSRV := func(portName string, proto corev1.Protocol, port int32, target string) {
		s := srv{port: uint16(port), target: target}
		get(base).srv = append(get(base).srv, s)
		if portName != "" {
			name := "_" + strings.ToLower(portName) + "._" + strings.ToLower(string(proto)) + "." + base
			get(name).srv = append(get(name).srv, s)
		}
	}
	if headless {
		for _, e := range eps {
			addIP(get(base), e.ip)
			for _, p := range e.ports {
				if p.Port == nil {
					continue
				}
				var name string
				proto := corev1.ProtocolTCP
				if p.Name != nil {
					name = *p.Name
				}
				if p.Protocol != nil {
					proto = *p.Protocol
				}
				addSRV(name, proto, *p.Port, e.name+"."+base)
			}
		}
		return c
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			continue
		}
		addIP(get(base), ip)
		c.ptrs[reverse(ip)] = append(c.ptrs[reverse(ip)], base)
	}
	if c.names[base] == nil {
		return c // no address yet (being allocated): nothing to answer
	}
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		addSRV(p.Name, proto, p.Port, base)
	}
	return c
}

// reverse is ip's PTR owner name, lower-case.
func reverse(ip net.IP) string {
	r, _ := mdns.ReverseAddr(ip.String())
	return r
}

// Result is the zone's answer to one question.
type Result struct {
	// Forward: the question is not the zone's (outside the domain, or a reverse name it has no
	// record of); ask upstream.
	Forward bool
	Rcode   int
	Answer  []mdns.RR
	// Extra holds the addresses of SRV targets.
	Extra []mdns.RR
	// Negative: NXDOMAIN or NODATA, which carry the SOA in the authority section.
	Negative bool
	// External is a CNAME target outside the zone the caller may resolve upstream.
	External string
}

// Lookup answers qname/qtype. The answers' owner names are qname as asked.
func (z *Zone) Lookup(qname string, qtype uint16) Result {
	name := strings.ToLower(mdns.Fqdn(qname))
	z.mu.RLock()
	defer z.mu.RUnlock()
	if strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.") {
		m := z.ptrs[name]
		if len(m) == 0 {
			return Result{Forward: true}
		}
		if qtype != mdns.TypePTR && qtype != mdns.TypeANY {
			return Result{Negative: true}
		}
		var targets []string
		for _, ts := range m {
			targets = append(targets, ts...)
		}
		sort.Strings(targets)
		var ans []mdns.RR
		for _, t := range targets {
			ans = append(ans, &mdns.PTR{Hdr: z.hdr(qname, mdns.TypePTR), Ptr: t})
		}
		return Result{Answer: ans}
	}
	if name != z.domain && !strings.HasSuffix(name, "."+z.domain) {
		return Result{Forward: true}
	}
	if n := z.names[name]; n != nil {
		return z.answer(qname, qtype, n)
	}
	nx := Result{Rcode: mdns.RcodeNameError, Negative: true}
	if name == z.domain {
		if qtype == mdns.TypeSOA {
			return Result{Answer: []mdns.RR{z.soa()}}
		}
		return Result{Negative: true}
	}
	// Labels left of the domain, right to left: [svc|pod, namespace, name, ...].
	rest := strings.TrimSuffix(strings.TrimSuffix(name, z.domain), ".")
	labels := strings.Split(rest, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	if labels[0] != "svc" && labels[0] != "pod" {
		return nx
	}
	if len(labels) == 1 {
		return Result{Negative: true}
	}
	if !z.namespaces[labels[1]] {
		return nx
	}
	if len(labels) == 2 {
		return Result{Negative: true}
	}
	if labels[0] == "pod" && len(labels) == 3 {
		return z.podAnswer(qname, qtype, labels[2])
	}
	return nx
}

// podAnswer answers <dashed-address>.<ns>.pod.<domain> from the name alone, as CoreDNS's
// "pods insecure" mode does.
func (z *Zone) podAnswer(qname string, qtype uint16, label string) Result {
	var s string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		s = strings.ReplaceAll(label, "-", ".")
	} else {
		s = strings.ReplaceAll(label, "-", ":")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Result{Rcode: mdns.RcodeNameError, Negative: true}
	}
	n := &node{}
	if a.Is4() {
		n.a = []net.IP{a.AsSlice()}
	} else {
		n.aaaa = []net.IP{a.AsSlice()}
	}
	return z.answer(qname, qtype, n)
}

func (z *Zone) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: z.ttl}
}

func (z *Zone) answer(qname string, qtype uint16, n *node) Result {
	var r Result
	if n.cname != "" {
		r.Answer = append(r.Answer, &mdns.CNAME{Hdr: z.hdr(qname, mdns.TypeCNAME), Target: n.cname})
		if qtype == mdns.TypeCNAME {
			return r
		}
		// An in-zone target is answered here; an outside one is the caller's to resolve.
		if t := z.names[n.cname]; t != nil && t.cname == "" {
			r.Answer = append(r.Answer, z.answer(n.cname, qtype, t).Answer...)
		} else if !strings.HasSuffix(n.cname, "."+z.domain) {
			r.External = n.cname
		}
		return r
	}
	if qtype == mdns.TypeA || qtype == mdns.TypeANY {
		for _, ip := range n.a {
			r.Answer = append(r.Answer, &mdns.A{Hdr: z.hdr(qname, mdns.TypeA), A: ip})
		}
	}
	if qtype == mdns.TypeAAAA || qtype == mdns.TypeANY {
		for _, ip := range n.aaaa {
			r.Answer = append(r.Answer, &mdns.AAAA{Hdr: z.hdr(qname, mdns.TypeAAAA), AAAA: ip})
		}
	}
	if qtype == mdns.TypeSRV || qtype == mdns.TypeANY {
		weight := uint16(100 / max(1, len(n.srv)))
		seen := map[string]bool{}
		for _, s := range n.srv {
			r.Answer = append(r.Answer, &mdns.SRV{Hdr: z.hdr(qname, mdns.TypeSRV), Priority: 0, Weight: weight, Port: s.port, Target: s.target})
			if t := z.names[s.target]; t != nil && !seen[s.target] {
				seen[s.target] = true
				for _, ip := range t.a {
					r.Extra = append(r.Extra, &mdns.A{Hdr: z.hdr(s.target, mdns.TypeA), A: ip})
				}
				for _, ip := range t.aaaa {
					r.Extra = append(r.Extra, &mdns.AAAA{Hdr: z.hdr(s.target, mdns.TypeAAAA), AAAA: ip})
				}
			}
		}
	}
	if len(r.Answer) == 0 {
		r.Negative = true // NODATA: the name exists, not with this type
	}
	return r
}

// SOA is the zone's SOA record, for the authority section of negative answers.
func (z *Zone) SOA() mdns.RR {
	z.mu.RLock()
	defer z.mu.RUnlock()
	return z.soa()
}

func (z *Zone) soa() mdns.RR {
	return &mdns.SOA{Hdr: z.hdr(z.domain, mdns.TypeSOA), Ns: "ns.dns." + z.domain, Mbox: "hostmaster." + z.domain,
		Serial: z.serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: z.ttl}
}
