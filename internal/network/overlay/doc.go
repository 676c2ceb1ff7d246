// Package overlay owns the VXLAN overlay that joins the pod networks of the nodes, in the style of
// flannel's vxlan backend. Each node has one VXLAN device (VNI 1, UDP port 8472 by default) bound
// to the interface that holds the node's IP, with a MAC derived from the node name and the first
// address of the node's pod CIDR as a /32. The node publishes the device's MAC and its own IP as
// annotations on its Node (skiff.dev/vxlan-mac, skiff.dev/public-ip); from the Node objects of the
// others it keeps, per peer, a route to the peer's pod CIDR via the peer's VTEP address (the pod
// CIDR's first address, onlink on the VXLAN device), a permanent neighbour entry mapping that
// address to the peer's VTEP MAC and a permanent FDB entry sending that MAC to the peer's IP.
// Nothing is masqueraded: a pod's packets reach a pod on another node with their source address
// intact. The MTU the bridge and veths must use (uplink MTU less the encapsulation) comes from
// here too.
//
// Host settings it touches, all in the node's network namespace: it creates, replaces and deletes
// its own VXLAN device (and so the routes, neighbour and FDB entries on it), and sets
// net.ipv4.conf.<dev>.forwarding=1 on that device and on the pod bridge, so that packets between
// pods and the overlay are forwarded without turning forwarding on machine-wide. It never touches
// other links, never adds nftables rules (masquerade for traffic leaving the cluster CIDR belongs
// to the service proxy, which exempts pod-to-pod traffic) and never shells out. IPv4 only.
//
// Usage:
//
//	o, err := overlay.New(overlay.Config{NodeName: name, NodeIP: ip, NetNS: ns, Bridge: br})
//	mtu := o.MTU()                 // for network.Config.MTU
//	err = o.Setup(podCIDR)         // device, address, forwarding
//	go o.Run(ctx, client, nodeInformer) // publishes the annotations and follows the Nodes
//	err = o.Teardown()             // the node leaves: the device and all its entries go
package overlay
