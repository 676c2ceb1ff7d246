package scheduler

import (
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

// nominator remembers pods nominated to a node by preemption (status.nominatedNodeName) until
// they are bound or gone, so that the room their victims free is not taken by pods of lower or
// equal priority meanwhile.
type nominator struct {
	mu     sync.Mutex
	byUID  map[types.UID]string
	byNode map[string]map[types.UID]*fw.PodInfo
	// count is len(byUID), readable without the lock: forNode runs for every node a pod is
	// filtered against, and there is almost never a nomination at all.
	count atomic.Int64
}

func newNominator() *nominator {
	return &nominator{byUID: map[types.UID]string{}, byNode: map[string]map[types.UID]*fw.PodInfo{}}
}

// set records (node != "") or clears (node == "") a pod's nomination.
func (n *nominator) set(pod *corev1.Pod, node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.byUID[pod.UID]; ok {
		delete(n.byNode[old], pod.UID)
		if len(n.byNode[old]) == 0 {
			delete(n.byNode, old)
		}
		delete(n.byUID, pod.UID)
	}
	defer func() { n.count.Store(int64(len(n.byUID))) }()
	if node == "" {
		return
	}
	n.byUID[pod.UID] = node
	if n.byNode[node] == nil {
		n.byNode[node] = map[types.UID]*fw.PodInfo{}
	}
	n.byNode[node][pod.UID] = fw.NewPodInfo(pod)
}

// any reports whether any pod is nominated, without the lock.
func (n *nominator) any() bool { return n.count.Load() > 0 }

// forNode lists the pods nominated to node with at least the given priority, other than self.
func (n *nominator) forNode(node string, priority int32, self types.UID) []*fw.PodInfo {
	if !n.any() {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*fw.PodInfo
	for uid, pi := range n.byNode[node] {
		if uid != self && pi.Priority >= priority {
			out = append(out, pi)
		}
	}
	return out
}
