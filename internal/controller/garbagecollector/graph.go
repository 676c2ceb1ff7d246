package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// resource says what an observed object is: the monitor it came from knows its resource and kind,
// which metadata-only objects do not carry themselves.
type resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
}

// meta is the part of an object's metadata the collector decides from.
type meta struct {
	Namespace, Name string
	UID             types.UID
	ResourceVersion string
	Deleting        bool // deletionTimestamp set
	Finalizers      []string
	Owners          []metav1.OwnerReference
}

func metaOf(o metav1.Object) meta {
	return meta{
		Namespace: o.GetNamespace(), Name: o.GetName(), UID: o.GetUID(), ResourceVersion: o.GetResourceVersion(),
		Deleting: o.GetDeletionTimestamp() != nil, Finalizers: slices.Clone(o.GetFinalizers()),
		Owners: slices.Clone(o.GetOwnerReferences()),
	}
}

func (m meta) has(finalizer string) bool { return slices.Contains(m.Finalizers, finalizer) }

// deletingDependents says the object waits for its blocking dependents to go (foreground deletion).
func (m meta) deletingDependents() bool {
	return m.Deleting && m.has(metav1.FinalizerDeleteDependents)
}

func (m meta) orphaning() bool { return m.Deleting && m.has(metav1.FinalizerOrphanDependents) }

// node is one object in the graph. A virtual node is known only because some dependent names it
// as an owner; it has no resource or metadata of its own and lives as long as it has dependents.
type node struct {
	res        resource
	meta       meta
	virtual    bool
	dependents map[types.UID]*node
}

// resolves says n is an observed object that reference r of a dependent in namespace ns points
// at: same kind and name, and where the reference can reach (a namespaced owner only in the
// dependent's own namespace).
func (n *node) resolves(r metav1.OwnerReference, ns string) bool {
	if n == nil || n.virtual || n.res.Kind != r.Kind || n.meta.Name != r.Name {
		return false
	}
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil || gv.Group != n.res.GVR.Group {
		return false
	}
	return !n.res.Namespaced || n.meta.Namespace == ns
}

// ownerRef returns n's reference to the owner with uid, if any.
func (n *node) ownerRef(uid types.UID) (metav1.OwnerReference, bool) {
	for _, r := range n.meta.Owners {
		if r.UID == uid {
			return r, true
		}
	}
	return metav1.OwnerReference{}, false
}

// graph is the ownership graph, keyed by uid (uids are never reused, unlike names). Only the graph
// builder changes it; workers read snapshots under the read lock.
type graph struct {
	mu    sync.RWMutex
	nodes map[types.UID]*node
}

func newGraph() *graph { return &graph{nodes: map[types.UID]*node{}} }

// change is one observation from a monitor. deleted says the object is gone.
type change struct {
	res     resource
	meta    meta
	deleted bool
}

// work is what a change asks of the workers: uids to (re)consider for deletion, and owners whose
// dependents must be orphaned.
type work struct {
	attemptToDelete []types.UID
	attemptToOrphan []types.UID
}

func (w *work) delete(uids ...types.UID) { w.attemptToDelete = append(w.attemptToDelete, uids...) }

// apply folds a change into the graph and says what must be looked at because of it.
func (g *graph) apply(c change) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.deleted {
		return g.remove(c.meta.UID)
	}
	return g.upsert(c)
}

func (g *graph) upsert(c change) work {
	var w work
	uid := c.meta.UID
	n := g.nodes[uid]
	var old meta
	isNew := n == nil || n.virtual
	if n == nil {
		n = &node{dependents: map[types.UID]*node{}}
		g.nodes[uid] = n
	} else if !n.virtual {
		old = n.meta
	}
	wasDeletingDependents := !isNew && old.deletingDependents()
	n.virtual, n.res, n.meta = false, c.res, c.meta

	ownersChanged := false
	oldRefs := map[types.UID]metav1.OwnerReference{}
	for _, r := range old.Owners {
		oldRefs[r.UID] = r
	}
	newRefs := map[types.UID]bool{}
	for _, r := range c.meta.Owners {
		newRefs[r.UID] = true
		prev, had := oldRefs[r.UID]
		if !had {
			ownersChanged = true
			g.link(n, uid, r, c.meta.Namespace)
			continue
		}
		// A reference that stopped blocking may be what its owner's foreground deletion waits for.
		if blocks(prev) && !blocks(r) {
			if o := g.nodes[r.UID]; o != nil && o.meta.deletingDependents() {
				w.delete(r.UID)
			}
		}
	}
	for ouid := range oldRefs {
		if newRefs[ouid] {
			continue
		}
		ownersChanged = true
		if o := g.unlink(uid, ouid); o != nil && o.meta.deletingDependents() {
			w.delete(ouid)
		}
	}

	// A dependent needs a look when it may have lost its owners or its owner deletes in foreground.
	if isNew || ownersChanged {
		for _, r := range c.meta.Owners {
			if o := g.nodes[r.UID]; !o.resolves(r, c.meta.Namespace) || o.meta.Deleting {
				w.delete(uid)
				break
			}
		}
	}
	if c.meta.orphaning() {
		w.attemptToOrphan = append(w.attemptToOrphan, uid)
	}
	if c.meta.deletingDependents() {
		w.delete(uid) // may have no blocking dependents at all: the finalizer can go
		if !wasDeletingDependents {
			for duid := range n.dependents {
				w.delete(duid)
			}
		}
	}
	return w
}

// link records n (uid) as a dependent of the owner named by r, creating a virtual owner when the
// owner has not been observed.
func (g *graph) link(n *node, uid types.UID, r metav1.OwnerReference, namespace string) {
	o := g.nodes[r.UID]
	if o == nil {
		o = &node{virtual: true, dependents: map[types.UID]*node{},
			meta: meta{Namespace: namespace, Name: r.Name, UID: r.UID}}
		g.nodes[r.UID] = o
	}
	o.dependents[uid] = n
}

// unlink drops dependent uid from owner ouid and returns the owner if it is still in the graph.
func (g *graph) unlink(uid, ouid types.UID) *node {
	o := g.nodes[ouid]
	if o == nil {
		return nil
	}
	delete(o.dependents, uid)
	if o.virtual && len(o.dependents) == 0 {
		delete(g.nodes, ouid)
		return nil
	}
	return o
}

func (g *graph) remove(uid types.UID) work {
	var w work
	n := g.nodes[uid]
	if n == nil || n.virtual {
		return w
	}
	for _, r := range n.meta.Owners {
		if o := g.unlink(uid, r.UID); o != nil && o.meta.deletingDependents() {
			w.delete(r.UID)
		}
	}
	if len(n.dependents) == 0 {
		delete(g.nodes, uid)
		return w
	}
	// Its dependents still name it: keep it as a virtual owner and let each of them be judged.
	n.virtual, n.res, n.meta = true, resource{}, meta{Namespace: n.meta.Namespace, Name: n.meta.Name, UID: uid}
	for duid := range n.dependents {
		w.delete(duid)
	}
	return w
}

func blocks(r metav1.OwnerReference) bool {
	return r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion
}

// dependentView is what a worker needs to know of one dependent of an owner.
type dependentView struct {
	res                resource
	meta               meta
	blocking           bool // its reference to the owner has blockOwnerDeletion=true
	deletingDependents bool
}

// view is a worker's snapshot of one node.
type view struct {
	found, virtual bool
	res            resource
	meta           meta
	dependents     []dependentView
}

func (g *graph) view(uid types.UID) view {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[uid]
	if n == nil {
		return view{}
	}
	v := view{found: true, virtual: n.virtual, res: n.res, meta: n.meta}
	for _, d := range n.dependents {
		r, _ := d.ownerRef(uid)
		v.dependents = append(v.dependents, dependentView{res: d.res, meta: d.meta, blocking: blocks(r),
			deletingDependents: d.meta.deletingDependents()})
	}
	return v
}

// observed returns what the graph has seen of uid: an observed (non-virtual) node's resource and
// metadata.
func (g *graph) observed(uid types.UID) (resource, meta, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[uid]
	if n == nil || n.virtual {
		return resource{}, meta{}, false
	}
	return n.res, n.meta, true
}

func (g *graph) size() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.nodes)
}
