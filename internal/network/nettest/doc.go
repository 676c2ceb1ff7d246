// Package nettest builds throwaway networks of "hosts" for tests: each host is a named network
// namespace (visible to `ip netns list`) with one interface, eth0, plugged into a bridge that lives
// in a switch namespace of its own, so that several node agents can run side by side on one machine
// as if on separate hosts of one LAN. It also makes bare namespaces (for pods), runs Go functions and
// commands inside any of them, and removes everything it made in t.Cleanup, also when the test fails.
//
// Addressing: the LAN uses 198.18.0.0/24 (host i is 198.18.0.i+1) and suggests 198.19.i.0/24 as host
// i's pod CIDR, both from 198.18.0.0/15, the range RFC 2544 sets aside for benchmarks and which is
// never routed on the internet. Because every LAN lives in its own namespaces, parallel tests reuse
// the same addresses without colliding.
//
// It must never touch the machine's root network namespace: no link, address, route or sysctl is
// created or changed there, the switch has no uplink and hosts have no default route, so no test
// packet can leave the machine. It is for tests only and must never be imported by production code.
package nettest
