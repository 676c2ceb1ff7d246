// Package nodeipam is the node IPAM controller: it gives every Node without one a pod CIDR
// (spec.podCIDR and spec.podCIDRs, a /24 by default) carved out of the cluster CIDR, and takes it
// back when the Node is deleted. At start it rebuilds its view of what is taken from the Nodes as
// stored, so a restart never hands out a range a Node already has; a Node whose pod CIDR was set by
// someone else (a node agent's --pod-cidr) keeps it and that range counts as taken too. When the
// cluster CIDR is full it records a CIDRNotAvailable event on the Node and tries again once a range
// is freed.
//
// It must never change a pod CIDR a Node already has (the API server forbids it, and pods use it),
// never hand out a range outside the cluster CIDR, and never hand out one range twice.
//
// Usage:
//
//	c, err := nodeipam.New(nodeipam.Config{Client: cs, Informers: informers, ClusterCIDR: "10.244.0.0/16"})
//	go c.Run(ctx, 1)
package nodeipam
