// Package testcluster starts a multi-node skiff cluster on one machine for end-to-end tests: one
// API server (package testserver, in the test process) and N node agents, each a real
// `skiff kubelet` process running in a host network namespace of a nettest LAN, with its own node
// name, data dir, cgroup root, bridge, pod CIDR (198.19.i.0/24) and node IP (the host's LAN
// address), joined to the API server with a node client certificate (CN=system:node:<name>,
// O=system:nodes) signed by the cluster CA. It imports the project's test images into every node's
// store and gives tests the helpers they share: waiting for nodes and pods, reaching a node's
// network from the test, running kubectl, stopping, killing and restarting one node agent. Every
// process, mount, cgroup, namespace and directory it makes is removed in t.Cleanup, also when the
// test fails.
//
// The API server stays in the machine's root network namespace on loopback; each node reaches it
// through a forwarder listening on the same loopback address inside the node's namespace, and the
// API server reaches each node agent's API through a dialer that enters that node's namespace
// (server.Config.KubeletDial). No link, address or route is added to the root namespace.
//
// The nodes' pod networks are joined by the VXLAN overlay (package overlay); with
// Options.AllocatePodCIDRs the nodes start without a pod CIDR and adopt what the node IPAM
// controller gives them. While a cluster runs, the nftables guard of package netguard drops any
// packet to the cluster, service or LAN ranges that would leave through the machine's uplink.
//
// Each host routes the service range onto the LAN, as a machine's default route would, so that
// ClusterIPs work from the nodes' own namespaces. With Options.ClusterDNS the server's cluster DNS
// binds its sockets on the first host's LAN address (port 53) inside that host's namespace, as if
// the server ran there; it is the kube-dns Service's endpoint, and every node passes the Service's
// address as --cluster-dns, so pods reach it through their node's service proxy. Its upstreams are
// the test's (stubs on loopback), never the machine's resolvers.
//
// It is for tests only and must never be imported by production code.
package testcluster
