// Package network is the end-to-end test of the pod network, Services and cluster DNS on real
// containers: a two-node testcluster with the scheduler, the controllers (endpoints,
// endpointslice and node IPAM among them), a service proxy in every node agent and the server's
// cluster DNS bound on the first node's LAN address. It checks pod-to-pod traffic on one node and
// across nodes, ClusterIP and NodePort balancing, readiness taking a backend out of rotation and
// back, a Service without endpoints rejecting at once, DNS names of Services and StatefulSet pods,
// and that nothing of the network stays on a node once the pods and Services are gone. It must
// never send a packet off this machine: the DNS upstream is a stub on loopback.
package network
