// Package node is the strategy for core/v1 Nodes: pod CIDRs and provider ID that may be set once,
// well-formed taints, non-negative capacity, and the spec.unschedulable field selector.
//
// It must never judge a node's health or evict its pods: the node lifecycle controller owns that.
package node
