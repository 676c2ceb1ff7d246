package framework

import "k8s.io/apimachinery/pkg/labels"

// Snapshot is the view of the cluster one scheduling cycle works on: it does not change while
// the cycle runs, whatever the informers deliver meanwhile.
type Snapshot struct {
	byName map[string]*NodeInfo
	// list holds the nodes (NodeInfos with a Node), in a stable order; index is each one's
	// position in it.
	list  []*NodeInfo
	index map[string]int
	// structural says the set of nodes changed since the last Rebuild (the list must be redone);
	// affinity that a replaced NodeInfo holds or held pods with affinity terms.
	structural, affinity bool
	withAffinity         []*NodeInfo
	withReqAnti          []*NodeInfo
	// NamespaceLabels gives a namespace's labels for affinity terms with a namespaceSelector; nil
	// means no namespace has labels.
	NamespaceLabels func(ns string) labels.Set
}

// NewSnapshot builds a snapshot from NodeInfos (tests build one directly; the cache keeps its own
// up to date with Refresh).
func NewSnapshot(infos ...*NodeInfo) *Snapshot {
	s := &Snapshot{byName: map[string]*NodeInfo{}}
	for _, ni := range infos {
		s.byName[ni.Name()] = ni
	}
	s.Rebuild()
	return s
}

// Set replaces (or adds) the NodeInfo of one node; call Rebuild after a batch of changes.
// Replacing a listed node's NodeInfo by another of the same node is done in place: a scheduling
// cycle changes one node (the one its pod was assumed on), and redoing a list of thousands for it
// was a tenth of the scheduler's time.
func (s *Snapshot) Set(name string, ni *NodeInfo) {
	if s.byName == nil {
		s.byName = map[string]*NodeInfo{}
	}
	old := s.byName[name]
	if ni == nil {
		delete(s.byName, name)
		s.structural = true
		return
	}
	s.byName[name] = ni
	i, listed := s.index[name]
	if !listed || ni.Node == nil || old == nil || old.Node == nil || s.structural {
		s.structural = true
		return
	}
	s.list[i] = ni
	if hasAffinityPods(old) || hasAffinityPods(ni) {
		s.affinity = true
	}
}

func hasAffinityPods(ni *NodeInfo) bool {
	return len(ni.PodsWithAffinity) > 0 || len(ni.PodsWithRequiredAntiAffinity) > 0
}

// Rebuild recomputes the lists after Set. Nodes are listed in the order of the previous list with
// new ones at the end, so the scheduler's round-robin start index keeps its meaning.
func (s *Snapshot) Rebuild() {
	if s.index == nil {
		s.structural = true
	}
	switch {
	case s.structural:
		s.rebuildList()
	case s.affinity:
		s.rebuildAffinity()
	}
	s.structural, s.affinity = false, false
}

func (s *Snapshot) rebuildList() {
	seen := make(map[string]bool, len(s.byName))
	list := s.list[:0:0]
	for _, ni := range s.list {
		name := ni.Name()
		cur, ok := s.byName[name]
		if !ok || cur.Node == nil || seen[name] {
			continue
		}
		seen[name] = true
		list = append(list, cur)
	}
	for name, ni := range s.byName {
		if ni.Node != nil && !seen[name] {
			seen[name] = true
			list = append(list, ni)
		}
	}
	s.list = list
	s.index = make(map[string]int, len(list))
	for i, ni := range list {
		s.index[ni.Name()] = i
	}
	s.rebuildAffinity()
}

func (s *Snapshot) rebuildAffinity() {
	s.withAffinity, s.withReqAnti = nil, nil
	for _, ni := range s.list {
		if len(ni.PodsWithAffinity) > 0 {
			s.withAffinity = append(s.withAffinity, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.withReqAnti = append(s.withReqAnti, ni)
		}
	}
}

// List is every node.
func (s *Snapshot) List() []*NodeInfo { return s.list }

// Get is one node's NodeInfo, nil if unknown.
func (s *Snapshot) Get(name string) *NodeInfo {
	ni := s.byName[name]
	if ni == nil || ni.Node == nil {
		return nil
	}
	return ni
}

// WithAffinity lists the nodes that hold a pod with any pod (anti-)affinity term.
func (s *Snapshot) WithAffinity() []*NodeInfo { return s.withAffinity }

// WithRequiredAntiAffinity lists the nodes that hold a pod with a required anti-affinity term.
func (s *Snapshot) WithRequiredAntiAffinity() []*NodeInfo { return s.withReqAnti }

// NSLabels is NamespaceLabels, tolerating its absence.
func (s *Snapshot) NSLabels(ns string) labels.Set {
	if s.NamespaceLabels == nil {
		return nil
	}
	return s.NamespaceLabels(ns)
}

// WithNode returns a shallow copy of the snapshot in which one node's NodeInfo is replaced:
// preemption asks "would the pod fit if these victims were gone" without touching the cycle's
// snapshot.
func (s *Snapshot) WithNode(ni *NodeInfo) *Snapshot {
	c := &Snapshot{byName: make(map[string]*NodeInfo, len(s.byName)), NamespaceLabels: s.NamespaceLabels, index: s.index}
	for k, v := range s.byName {
		c.byName[k] = v
	}
	c.byName[ni.Name()] = ni
	c.list = make([]*NodeInfo, len(s.list))
	for i, v := range s.list {
		if v.Name() == ni.Name() {
			v = ni
		}
		c.list[i] = v
	}
	for _, v := range c.list {
		if len(v.PodsWithAffinity) > 0 {
			c.withAffinity = append(c.withAffinity, v)
		}
		if len(v.PodsWithRequiredAntiAffinity) > 0 {
			c.withReqAnti = append(c.withReqAnti, v)
		}
	}
	return c
}

// Generation is the generation of the NodeInfo held for name (placeholders included), so the
// cache can tell which entries changed since it last refreshed the snapshot.
func (s *Snapshot) Generation(name string) (int64, bool) {
	ni, ok := s.byName[name]
	if !ok {
		return 0, false
	}
	return ni.Generation, true
}

// Names lists every entry, placeholders included.
func (s *Snapshot) Names() []string {
	out := make([]string, 0, len(s.byName))
	for k := range s.byName {
		out = append(out, k)
	}
	return out
}

// Len counts every entry, placeholders included.
func (s *Snapshot) Len() int { return len(s.byName) }
