// Package proxy is the service proxy of a node: it watches Services, EndpointSlices, its own Node
// and the pods bound to its node, and programs one nftables table (over netlink, with
// github.com/google/nftables) in the node's network namespace so that ClusterIPs and NodePorts
// reach ready endpoints (random balancing with numgen, ClientIP affinity with timeout sets,
// internal/externalTrafficPolicy Local, hairpin masquerade), Services without endpoints and
// unallocated addresses of the service range are rejected at once, pod traffic leaving the cluster
// CIDR is masqueraded and hostPorts are DNATed to their pods. It works in two layers: a pure rule
// model (Service + slices -> chains, map elements and sets; two models -> the delta between them)
// and a writer that turns a delta into one netlink batch. Updates are O(change): a change of one
// Service or of its slices rewrites only that Service's chains and map elements.
//
// The table survives a restart or SIGTERM of the process (pods keep running, so must their
// traffic); a restarted proxy adopts it and reconciles it. Cleanup (skiff proxy --cleanup) and the
// removal of its Node delete it. In the node's namespace it also turns on net.ipv4.ip_forward and
// net.bridge.bridge-nf-call-iptables (without them a node forwards no Service traffic, and replies of
// pods on one bridge skip conntrack), and it deletes stale UDP conntrack entries. It must never
// shell out to nft or iptables, never touch a table or chain it did not name, and never write to a
// namespace other than the one its Config names.
//
// Usage:
//
//	p, err := proxy.New(client, proxy.Config{NodeName: n, ServiceCIDR: "10.96.0.0/12", ClusterCIDR: "10.244.0.0/16", NetNS: path})
//	err = p.Run(ctx)             // until ctx ends; the rules stay
//	err = proxy.Cleanup(cfg)     // removes the table
package proxy
