package framework

import (
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

var generation atomic.Int64

// nextGeneration orders changes to NodeInfos across the process, so a snapshot can copy only the
// nodes that changed since it was last brought up to date.
func nextGeneration() int64 { return generation.Add(1) }

// NodeInfo is a node with the pods bound (or assumed bound) to it. Node may be nil when pods name
// a node the scheduler has not seen (yet, or any more); such an entry is never a candidate.
type NodeInfo struct {
	Node *corev1.Node
	Pods []*PodInfo
	// PodsWithAffinity have any pod (anti-)affinity term; PodsWithRequiredAntiAffinity a required
	// anti-affinity term. Inter-pod affinity looks only at these.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	// Requested sums the pods' effective requests; NonZeroRequested the scoring requests (CPU and
	// memory only).
	Requested        Resource
	NonZeroRequested Resource
	Allocatable      Resource
	UsedPorts        map[HostPort]int
	// Generation changes whenever the NodeInfo does.
	Generation int64

	// ready caches the Ready condition's status of readyOf, read by a filter on every node of
	// every cycle: looking it up in the node's conditions each time was a tenth of the filters.
	ready   corev1.ConditionStatus
	readyOf *corev1.Node
}

// ReadyStatus is the status of the node's Ready condition, Unknown when it has none.
func (n *NodeInfo) ReadyStatus() corev1.ConditionStatus {
	if n.readyOf != n.Node || n.ready == "" {
		n.ready, n.readyOf = readyStatus(n.Node), n.Node
	}
	return n.ready
}

func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	status := corev1.ConditionUnknown
	if node == nil {
		return status
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status = c.Status
		}
	}
	return status
}

// NewNodeInfo makes a NodeInfo holding pods.
func NewNodeInfo(pods ...*PodInfo) *NodeInfo {
	n := &NodeInfo{UsedPorts: map[HostPort]int{}, Generation: nextGeneration()}
	for _, p := range pods {
		n.AddPod(p)
	}
	return n
}

// Name is the node's name, or "" for a placeholder.
func (n *NodeInfo) Name() string {
	if n.Node == nil {
		return ""
	}
	return n.Node.Name
}

// SetNode sets or replaces the node.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.Node = node
	n.ready, n.readyOf = readyStatus(node), node
	n.Allocatable = NewResource(node.Status.Allocatable)
	n.Generation = nextGeneration()
}

// RemoveNode drops the node but keeps its pods (they may still be deleted later).
func (n *NodeInfo) RemoveNode() {
	n.Node = nil
	n.Allocatable = Resource{}
	n.Generation = nextGeneration()
}

// AddPod charges a pod to the node.
func (n *NodeInfo) AddPod(p *PodInfo) {
	n.Pods = append(n.Pods, p)
	if p.HasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, p)
	}
	if len(p.RequiredAntiAffinity) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, p)
	}
	n.update(p, 1)
}

// RemovePod uncharges the pod with p's UID.
func (n *NodeInfo) RemovePod(pod *corev1.Pod) error {
	n.PodsWithAffinity = removeByUID(n.PodsWithAffinity, pod.UID)
	n.PodsWithRequiredAntiAffinity = removeByUID(n.PodsWithRequiredAntiAffinity, pod.UID)
	for i, p := range n.Pods {
		if p.Pod.UID == pod.UID {
			n.Pods[i] = n.Pods[len(n.Pods)-1]
			n.Pods[len(n.Pods)-1] = nil
			n.Pods = n.Pods[:len(n.Pods)-1]
			n.update(p, -1)
			return nil
		}
	}
	return fmt.Errorf("pod %s/%s (uid %s) is not on node %q", pod.Namespace, pod.Name, pod.UID, n.Name())
}

func removeByUID(list []*PodInfo, uid types.UID) []*PodInfo {
	for i, p := range list {
		if p.Pod.UID == uid {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			return list[:len(list)-1]
		}
	}
	return list
}

func (n *NodeInfo) update(p *PodInfo, sign int64) {
	if sign > 0 {
		n.Requested.Add(&p.Requests)
	} else {
		n.Requested.Sub(&p.Requests)
	}
	n.NonZeroRequested.MilliCPU += sign * p.NonZeroMilliCPU
	n.NonZeroRequested.Memory += sign * p.NonZeroMemory
	for _, hp := range p.Ports {
		n.UsedPorts[hp] += int(sign)
		if n.UsedPorts[hp] <= 0 {
			delete(n.UsedPorts, hp)
		}
	}
	n.Generation = nextGeneration()
}

// PortConflict says whether hp collides with a port in use: the same protocol and port where
// either side listens on every address or both on the same one.
func (n *NodeInfo) PortConflict(hp HostPort) bool {
	if hp.IP == "0.0.0.0" {
		for used := range n.UsedPorts {
			if used.Port == hp.Port && used.Protocol == hp.Protocol {
				return true
			}
		}
		return false
	}
	if n.UsedPorts[hp] > 0 {
		return true
	}
	any := hp
	any.IP = "0.0.0.0"
	return n.UsedPorts[any] > 0
}

// Clone copies the NodeInfo deeply enough that changes to either do not show in the other (the
// pods themselves are shared: nobody mutates them).
func (n *NodeInfo) Clone() *NodeInfo {
	c := &NodeInfo{
		Node:                         n.Node,
		Pods:                         append([]*PodInfo(nil), n.Pods...),
		PodsWithAffinity:             append([]*PodInfo(nil), n.PodsWithAffinity...),
		PodsWithRequiredAntiAffinity: append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...),
		Requested:                    n.Requested.Clone(),
		NonZeroRequested:             n.NonZeroRequested.Clone(),
		Allocatable:                  n.Allocatable.Clone(),
		UsedPorts:                    make(map[HostPort]int, len(n.UsedPorts)),
		Generation:                   n.Generation,
		ready:                        n.ready,
		readyOf:                      n.readyOf,
	}
	for k, v := range n.UsedPorts {
		c.UsedPorts[k] = v
	}
	return c
}
