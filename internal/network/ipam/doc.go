// Package ipam is the node-local IPv4 address allocator behind the pod network: it hands out
// addresses of one pod CIDR to owners (pod UIDs) and persists every allocation as one file per
// address under a state directory, so that a restarted node agent never hands out an address that
// is still in use and a deleted pod gives its address back. It reserves the network address, the
// gateway (the first address, which the node's bridge holds) and the broadcast address, and hands
// addresses out round-robin so that a just-released address is not reused at once.
//
// It owns nothing but its directory: it must never touch links, routes or namespaces, and it must
// never decide on its own that an owner is gone. The caller garbage-collects owners that no longer
// exist through List and Release.
package ipam
