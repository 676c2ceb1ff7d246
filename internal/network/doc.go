// Package network owns a node's single-node pod network: one Linux bridge in the node's network
// namespace holding the gateway address (the first address of the pod CIDR), one veth pair per pod
// whose host end joins the bridge and whose other end is the pod's eth0 (with the pod's address and
// a default route via the gateway), loopback up in the pod, and the node-local address allocator
// (package ipam) persisted in the state directory. The node reaches every pod address over the
// bridge's connected route. Every name it creates derives from its Config, so several nodes run side
// by side, each in its own network namespace.
//
// Host settings it touches: in the node's namespace it creates and deletes the bridge and the host
// ends of the veths, gives the bridge the gateway address (and removes other IPv4 addresses from
// it) and deletes the neighbour entry of a pod address on the bridge when the address changes
// hands, and it turns hairpin mode on for each pod's bridge port (a pod DNATed back to itself by
// its Service gets the packet out of the port it came in by). In each pod's namespace it configures eth0 and lo and sets
// net.ipv4.conf.eth0.arp_notify=1, so that a reused address announces its new MAC. It changes no
// other sysctl (no ip_forward, no rp_filter, no bridge-nf-call-*), nothing machine-wide, adds no
// iptables/nftables rule and never touches links it did not create. Traffic between pods and to the
// node needs nothing more: pods share the bridge's L2 segment and the node owns the gateway. Forwarding,
// masquerade, cross-node routes, hostPort and Services belong to the networking layer above; when it
// needs forwarding it should enable it per interface (net.ipv4.conf.<bridge>.forwarding) in the
// node's namespace, not machine-wide. Caveat: a host whose root namespace forwards bridged traffic
// through a FORWARD policy of DROP (br_netfilter with bridge-nf-call-iptables=1, as Docker sets up)
// blocks pod-to-pod traffic; this package does not override that.
//
// It must never shell out, never pick addresses outside its pod CIDR, and never reach into another
// node's bridge or allocations.
//
// Usage:
//
//	n, err := network.New(network.Config{BridgeName: network.BridgeName(nodeName), PodCIDR: cidr, StateDir: dir})
//	err = n.Setup()                        // at agent start: creates or adopts the bridge
//	ip, err := n.Attach(podUID, netnsPath) // after the sandbox's namespace exists; safe to retry
//	err = n.Detach(podUID, netnsPath)      // when the sandbox goes; also for garbage collection
package network
