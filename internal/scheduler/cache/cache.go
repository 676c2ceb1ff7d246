package cache

import (
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

type podState struct {
	info    *fw.PodInfo
	node    string
	assumed bool
}

// Cache holds nodes and bound pods. It is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	nodes map[string]*fw.NodeInfo
	pods  map[types.UID]*podState
	// dirty names the nodes changed since synced was last brought up to date, so that a cycle
	// copies what changed without looking at every node.
	dirty  map[string]struct{}
	synced *fw.Snapshot
}

// New makes an empty cache.
func New() *Cache {
	return &Cache{nodes: map[string]*fw.NodeInfo{}, pods: map[types.UID]*podState{}, dirty: map[string]struct{}{}}
}

// nodeInfo returns name's NodeInfo for a change, creating a placeholder if needed.
func (c *Cache) nodeInfo(name string) *fw.NodeInfo {
	c.dirty[name] = struct{}{}
	ni := c.nodes[name]
	if ni == nil {
		ni = fw.NewNodeInfo()
		c.nodes[name] = ni
	}
	return ni
}

// AddNode adds or replaces a node.
func (c *Cache) AddNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodeInfo(node.Name).SetNode(node)
}

// UpdateNode is AddNode.
func (c *Cache) UpdateNode(node *corev1.Node) { c.AddNode(node) }

// RemoveNode forgets a node; pods still bound to it stay accounted until they are deleted.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.nodes[name]
	if ni == nil {
		return
	}
	c.dirty[name] = struct{}{}
	if len(ni.Pods) == 0 {
		delete(c.nodes, name)
		return
	}
	ni.RemoveNode()
}

// AssumePod charges a pod the scheduler is about to bind (pod.Spec.NodeName set to the chosen
// node) before the API server confirms it.
func (c *Cache) AssumePod(pod *corev1.Pod) error {
	if pod.Spec.NodeName == "" {
		return fmt.Errorf("pod %s/%s: assumed without a node", pod.Namespace, pod.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[pod.UID]; ok {
		return fmt.Errorf("pod %s/%s (uid %s) is already in the cache", pod.Namespace, pod.Name, pod.UID)
	}
	c.add(pod, true)
	return nil
}

// ForgetPod undoes AssumePod after a failed binding. A pod the informers have confirmed meanwhile
// stays.
func (c *Cache) ForgetPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok && ps.assumed {
		c.remove(pod.UID)
	}
}

// IsAssumed says whether a pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[uid]
	return ok && ps.assumed
}

// AddPod records a pod the informers report bound (confirming an assumed one).
func (c *Cache) AddPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[pod.UID]; ok {
		c.remove(pod.UID)
	}
	c.add(pod, false)
}

// UpdatePod replaces a bound pod's accounting (labels, requests after a resize, deletion mark).
func (c *Cache) UpdatePod(pod *corev1.Pod) { c.AddPod(pod) }

// RemovePod uncharges a deleted pod.
func (c *Cache) RemovePod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(pod.UID)
}

func (c *Cache) add(pod *corev1.Pod, assumed bool) {
	pi := fw.NewPodInfo(pod)
	c.nodeInfo(pod.Spec.NodeName).AddPod(pi)
	c.pods[pod.UID] = &podState{info: pi, node: pod.Spec.NodeName, assumed: assumed}
}

func (c *Cache) remove(uid types.UID) {
	ps, ok := c.pods[uid]
	if !ok {
		return
	}
	delete(c.pods, uid)
	ni := c.nodes[ps.node]
	if ni == nil {
		return
	}
	c.dirty[ps.node] = struct{}{}
	_ = ni.RemovePod(ps.info.Pod)
	if ni.Node == nil && len(ni.Pods) == 0 {
		delete(c.nodes, ps.node)
	}
}

// PodCount is how many pods the cache holds (assumed included).
func (c *Cache) PodCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pods)
}

// NodeCount is how many nodes the cache knows.
func (c *Cache) NodeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ni := range c.nodes {
		if ni.Node != nil {
			n++
		}
	}
	return n
}

// UpdateSnapshot brings s up to date, copying only the NodeInfos that changed since the last
// call.
func (c *Cache) UpdateSnapshot(s *fw.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	if s != c.synced {
		// Another snapshot than last time: compare every node.
		for name, ni := range c.nodes {
			if gen, ok := s.Generation(name); ok && gen == ni.Generation {
				continue
			}
			s.Set(name, ni.Clone())
			changed = true
		}
		// Every cached node is in s now; anything more in s was removed.
		if s.Len() > len(c.nodes) {
			for _, name := range s.Names() {
				if _, ok := c.nodes[name]; !ok {
					s.Set(name, nil)
					changed = true
				}
			}
		}
		c.synced = s
	} else {
		for name := range c.dirty {
			ni := c.nodes[name]
			gen, ok := s.Generation(name)
			switch {
			case ni == nil && ok:
				s.Set(name, nil)
				changed = true
			case ni != nil && (!ok || gen != ni.Generation):
				s.Set(name, ni.Clone())
				changed = true
			}
		}
	}
	clear(c.dirty)
	if changed {
		s.Rebuild()
	}
}
