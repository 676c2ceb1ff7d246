// Package framework holds the vocabulary the scheduler's parts share: a pod's effective requests
// and affinity terms computed once (PodInfo), a node with the pods bound to it and their summed
// requests and host ports (NodeInfo), a consistent view of all nodes for one scheduling cycle
// (Snapshot), the status a plugin returns and the plugin interfaces with the order in which they
// run (Profile).
//
// It computes and compares; it must never talk to the API server, keep state across scheduling
// cycles or know about any particular plugin.
package framework
