package proxy

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// modelConfig is what the rule model needs to know of the node.
type modelConfig struct {
	NodeName    string
	ClusterCIDR netip.Prefix // the zero Prefix: no masquerade of off-cluster sources
	ServiceCIDR netip.Prefix
}

// endpoint is one address of one Service port, as the slices give it.
type endpoint struct {
	IP          netip.Addr
	Port        uint16
	Local       bool
	Ready       bool
	Serving     bool
	Terminating bool
}

func (e endpoint) String() string { return netip.AddrPortFrom(e.IP, e.Port).String() }

// servicePortName names a Service port in chain names: namespace/name/protocol/port.
func servicePortName(svc *v1.Service, p *v1.ServicePort) string {
	return fmt.Sprintf("%s/%s/%s/%d", svc.Namespace, svc.Name, protoName(protoNumber(p.Protocol)), p.Port)
}

func serviceChain(spn string) string  { return "service-" + hashName(spn) + "-" + spn }
func localChain(spn string) string    { return "local-" + hashName(spn) + "-" + spn }
func externalChain(spn string) string { return "external-" + hashName(spn) + "-" + spn }
func endpointChain(spn string, ep endpoint) string {
	return "endpoint-" + hashName(spn, ep.String()) + "-" + spn + "__" + ep.String()
}

// affinitySet names an endpoint's set of recent clients; the timeout is part of the name, so a
// new timeout is a new set rather than a change to one that rules still use.
func affinitySet(spn string, ep endpoint, timeout time.Duration) string {
	return "affinity-" + hashName(spn, ep.String(), timeout.String())
}

func protoNumber(p v1.Protocol) uint8 {
	switch p {
	case v1.ProtocolUDP:
		return protoUDP
	case v1.ProtocolSCTP:
		return protoSCTP
	}
	return protoTCP
}

// serviceRules is the ruleset of one Service given its EndpointSlices (those labelled with its
// name). A Service that needs no rules (headless, ExternalName, no ClusterIP) gets an empty one.
func serviceRules(cfg modelConfig, svc *v1.Service, slices []*discoveryv1.EndpointSlice) *ruleset {
	rs := newRuleset()
	if svc == nil || svc.Spec.Type == v1.ServiceTypeExternalName {
		return rs
	}
	vip, _ := netip.ParseAddr(svc.Spec.ClusterIP)
	if !vip.Is4() {
		vip = netip.Addr{}
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if !vip.IsValid() && p.NodePort == 0 {
			continue
		}
		servicePortRules(cfg, rs, svc, p, vip, endpointsFor(cfg, p, slices))
	}
	return rs
}

// endpointsFor collects the IPv4 endpoints of one Service port from the slices, matched by port
// name and protocol, each address once (a ready copy wins over an unready one).
func endpointsFor(cfg modelConfig, p *v1.ServicePort, slices []*discoveryv1.EndpointSlice) []endpoint {
	seen := map[netip.AddrPort]int{}
	var out []endpoint
	for _, sl := range slices {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		var port uint16
		found := false
		for _, sp := range sl.Ports {
			name := ""
			if sp.Name != nil {
				name = *sp.Name
			}
			proto := v1.ProtocolTCP
			if sp.Protocol != nil {
				proto = *sp.Protocol
			}
			if name == p.Name && proto == p.Protocol && sp.Port != nil && *sp.Port > 0 && *sp.Port < 65536 {
				port, found = uint16(*sp.Port), true
				break
			}
		}
		if !found {
			continue
		}
		for _, e := range sl.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			ip, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !ip.Is4() {
				continue
			}
			ep := endpoint{IP: ip, Port: port, Local: e.NodeName != nil && *e.NodeName == cfg.NodeName}
			ep.Ready = e.Conditions.Ready == nil || *e.Conditions.Ready
			ep.Serving = ep.Ready
			if e.Conditions.Serving != nil {
				ep.Serving = *e.Conditions.Serving
			}
			ep.Terminating = e.Conditions.Terminating != nil && *e.Conditions.Terminating
			key := netip.AddrPortFrom(ip, port)
			if i, ok := seen[key]; ok {
				if ep.Ready && !out[i].Ready {
					out[i] = ep
				}
				continue
			}
			seen[key] = len(out)
			out = append(out, ep)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// usable picks the endpoints that get traffic: the ready ones, or, when none is ready, the
// serving ones that are terminating (so that a rolling update that leaves only terminating pods
// does not drop connections it could still serve, as upstream does).
func usable(eps []endpoint, local bool) []endpoint {
	var ready, terminating []endpoint
	for _, e := range eps {
		if local && !e.Local {
			continue
		}
		if e.Ready {
			ready = append(ready, e)
		} else if e.Serving && e.Terminating {
			terminating = append(terminating, e)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return terminating
}

func servicePortRules(cfg modelConfig, rs *ruleset, svc *v1.Service, p *v1.ServicePort, vip netip.Addr, eps []endpoint) {
	spn := servicePortName(svc, p)
	proto := protoNumber(p.Protocol)
	all := usable(eps, false)
	local := usable(eps, true)
	internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal
	externalLocal := svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal
	internal, external := all, all
	if internalLocal {
		internal = local
	}
	if externalLocal {
		external = local
	}
	var affinity time.Duration
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		affinity = 10800 * time.Second
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	nodePort := uint16(0)
	if p.NodePort > 0 && p.NodePort < 65536 {
		nodePort = uint16(p.NodePort)
	}
	port := uint16(p.Port)

	// Which balancing chains are referenced decides which exist.
	needCluster := vip.IsValid() && !internalLocal && len(all) > 0 ||
		nodePort != 0 && len(external) > 0 // the external chain falls back to it
	needLocal := len(local) > 0 && (vip.IsValid() && internalLocal || nodePort != 0 && externalLocal)
	used := map[string]endpoint{}
	if needCluster {
		var first []rule
		if cfg.ClusterCIDR.IsValid() {
			// The node's own processes (and anything outside the cluster) reach a pod on
			// another node with the node's address, so that replies come back here.
			first = append(first, rule{srcNotIn{cfg.ClusterCIDR}, jumpTo{chainMarkMasq}})
		}
		rs.Chains[serviceChain(spn)] = balance(first, spn, all, affinity, rs)
		for _, e := range all {
			used[endpointChain(spn, e)] = e
		}
	}
	if needLocal {
		rs.Chains[localChain(spn)] = balance(nil, spn, local, affinity, rs)
		for _, e := range local {
			used[endpointChain(spn, e)] = e
		}
	}
	for name, e := range used {
		var r []rule
		// Hairpin: a pod reaching itself through its Service must see another source,
		// or it drops its own packets; the reply then comes back through the bridge.
		r = append(r, rule{srcIs{e.IP}, jumpTo{chainMarkMasq}})
		if affinity > 0 {
			r = append(r, rule{updateSet{affinitySet(spn, e, affinity), affinity}})
		}
		r = append(r, rule{l4protoIs{proto}, dnatTo{e.IP, e.Port}})
		rs.Chains[name] = r
	}

	if vip.IsValid() {
		key := elemKey{Map: mapServiceIPs, IP: vip, Proto: proto, Port: port}
		switch {
		case len(internal) > 0 && internalLocal:
			rs.Elements[key] = verdict{localChain(spn)}
		case len(internal) > 0:
			rs.Elements[key] = verdict{serviceChain(spn)}
		default:
			key.Map = mapNoEndpointServices
			rs.Elements[key] = noEndpoints(all)
		}
	}
	if nodePort != 0 {
		key := elemKey{Map: mapServiceNodePorts, Proto: proto, Port: nodePort}
		if len(external) > 0 {
			ext := externalChain(spn)
			rs.Elements[key] = verdict{ext}
			if externalLocal {
				var r []rule
				if cfg.ClusterCIDR.IsValid() {
					r = append(r, rule{srcIn{cfg.ClusterCIDR}, gotoChain{serviceChain(spn)}})
				}
				r = append(r,
					rule{fibSrcLocal{}, jumpTo{chainMarkMasq}},
					rule{fibSrcLocal{}, gotoChain{serviceChain(spn)}},
					rule{gotoChain{localChain(spn)}})
				rs.Chains[ext] = r
			} else {
				rs.Chains[ext] = []rule{{jumpTo{chainMarkMasq}}, {gotoChain{serviceChain(spn)}}}
			}
		} else {
			key.Map = mapNoEndpointNodePorts
			rs.Elements[key] = noEndpoints(all)
		}
	}
	if proto == protoUDP {
		t := udpTarget{VIP: vip, Port: port, NodePort: nodePort}
		for _, e := range used {
			t.Endpoints = append(t.Endpoints, e.IP)
		}
		rs.UDP = append(rs.UDP, t)
	}
}

// noEndpoints is the verdict for a destination without endpoints to send it to: reject when the
// Service has none at all (the client learns at once), drop when it has some but the traffic
// policy keeps them out of reach from here (as upstream does).
func noEndpoints(all []endpoint) verdict {
	if len(all) == 0 {
		return verdict{chainReject}
	}
	return verdict{}
}

// balance is a balancing chain's rules: first, then (with affinity) a recent client back to its
// endpoint, then a random pick.
func balance(first []rule, spn string, eps []endpoint, affinity time.Duration, rs *ruleset) []rule {
	r := append([]rule(nil), first...)
	chains := make([]string, len(eps))
	for i, e := range eps {
		chains[i] = endpointChain(spn, e)
		if affinity > 0 {
			set := affinitySet(spn, e, affinity)
			rs.Sets[set] = affinity
			r = append(r, rule{srcInSet{set}, gotoChain{chains[i]}})
		}
	}
	return append(r, rule{numgenVmap{chains}})
}

// hostPortRules is the ruleset of one pod's hostPorts: each maps <hostIP or any node address>:
// <hostPort> to <podIP>:<containerPort>.
func hostPortRules(pod *v1.Pod) *ruleset {
	rs := newRuleset()
	if pod == nil || pod.Spec.HostNetwork || pod.DeletionTimestamp != nil ||
		pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return rs
	}
	podIP, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil || !podIP.Is4() {
		return rs
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.HostPort <= 0 || cp.HostPort > 65535 || cp.ContainerPort <= 0 || cp.ContainerPort > 65535 {
				continue
			}
			proto := protoNumber(cp.Protocol)
			name := fmt.Sprintf("%s/%s/%s/%d", pod.Namespace, pod.Name, protoName(proto), cp.HostPort)
			chain := "hostport-" + hashName(string(pod.UID), name) + "-" + name
			rs.Chains[chain] = []rule{
				{srcIs{podIP}, jumpTo{chainMarkMasq}},
				{l4protoIs{proto}, dnatTo{podIP, uint16(cp.ContainerPort)}},
			}
			key := elemKey{Map: mapHostPortsAny, Proto: proto, Port: uint16(cp.HostPort)}
			if hip, err := netip.ParseAddr(cp.HostIP); err == nil && hip.Is4() && !hip.IsUnspecified() {
				key.Map, key.IP = mapHostPortIPs, hip
			}
			rs.Elements[key] = verdict{chain}
		}
	}
	return rs
}

// fixedChain is one of the table's own chains; Hook is set for base chains.
type fixedChain struct {
	Name     string
	Hook     string // "prerouting", "input", "forward", "output", "postrouting"; "" for regular
	Type     string // "nat" or "filter"
	Priority int32
	Rules    []rule
}

var loopback = netip.MustParsePrefix("127.0.0.0/8")
var multicast = netip.MustParsePrefix("224.0.0.0/4")

// fixedChains are the table's skeleton: hooks into netfilter, the lookups into the maps, the
// rejects and masquerading. They are rewritten whole at every start (flags may have changed).
func fixedChains(cfg modelConfig) []fixedChain {
	post := []rule{{jumpTo{chainMasquerading}}}
	if cfg.ClusterCIDR.IsValid() {
		// Pods reaching beyond the cluster leave with the node's address (flannel's rule).
		post = append(post, rule{srcIn{cfg.ClusterCIDR}, dstNotIn{cfg.ClusterCIDR}, dstNotIn{multicast}, masquerade{}})
	}
	checks := []rule{{dstProtoPortVmap{mapNoEndpointServices}}}
	if cfg.ServiceCIDR.IsValid() {
		// What is still bound for the service range here was not DNATed: an unallocated
		// address, a port the Service does not have, or a Service without endpoints.
		checks = append(checks, rule{dstIn{cfg.ServiceCIDR}, gotoChain{chainReject}})
	}
	return []fixedChain{
		{Name: chainNatPrerouting, Hook: "prerouting", Type: "nat", Priority: -100,
			Rules: []rule{{jumpTo{chainServices}}, {jumpTo{chainHostPorts}}}},
		{Name: chainNatOutput, Hook: "output", Type: "nat", Priority: -100,
			Rules: []rule{{jumpTo{chainServices}}, {jumpTo{chainHostPorts}}}},
		{Name: chainNatPostrouting, Hook: "postrouting", Type: "nat", Priority: 100, Rules: post},
		{Name: chainFilterInput, Hook: "input", Type: "filter", Priority: -10,
			Rules: []rule{{ctNew{}, jumpTo{chainNodePortChecks}}}},
		{Name: chainFilterForward, Hook: "forward", Type: "filter", Priority: -10,
			Rules: []rule{{ctNew{}, jumpTo{chainServiceChecks}}}},
		{Name: chainFilterOutput, Hook: "output", Type: "filter", Priority: -10,
			Rules: []rule{{ctNew{}, jumpTo{chainServiceChecks}}, {ctNew{}, jumpTo{chainNodePortChecks}}}},
		{Name: chainServices, Rules: []rule{
			{dstProtoPortVmap{mapServiceIPs}},
			{fibDstLocal{}, dstNotIn{loopback}, protoPortVmap{mapServiceNodePorts}},
		}},
		{Name: chainHostPorts, Rules: []rule{
			{dstProtoPortVmap{mapHostPortIPs}},
			{fibDstLocal{}, dstNotIn{loopback}, protoPortVmap{mapHostPortsAny}},
		}},
		{Name: chainServiceChecks, Rules: checks},
		{Name: chainNodePortChecks, Rules: []rule{{fibDstLocal{}, protoPortVmap{mapNoEndpointNodePorts}}}},
		{Name: chainMarkMasq, Rules: []rule{{setMasqBit{}}}},
		{Name: chainMasquerading, Rules: []rule{{markClear{}, returnV{}}, {flipMasqBit{}}, {masquerade{}}}},
		{Name: chainReject, Rules: []rule{{l4protoIs{protoTCP}, rejectTCP{}}, {rejectICMP{}}}},
	}
}

func isFixedChain(name string) bool {
	for _, c := range fixedChains(modelConfig{}) {
		if c.Name == name {
			return true
		}
	}
	return false
}

// EndpointChain is the name of the chain that DNATs one Service port's traffic to one endpoint:
// what a reader of the table (a benchmark, an operator with `nft list`) looks for to see that an
// endpoint is programmed.
func EndpointChain(namespace, name string, protocol v1.Protocol, port int32, ep netip.AddrPort) string {
	spn := fmt.Sprintf("%s/%s/%s/%d", namespace, name, protoName(protoNumber(protocol)), port)
	return endpointChain(spn, endpoint{IP: ep.Addr(), Port: ep.Port()})
}
