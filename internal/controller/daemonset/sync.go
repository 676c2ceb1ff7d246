package daemonset

import (
	"context"
	"log/slog"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-dev/skiff/internal/controller/controllerref"
	"github.com/skiff-dev/skiff/internal/controller/history"
)

// Event reasons, as upstream.
const (
	SuccessfulCreate = "SuccessfulCreate"
	FailedCreate     = "FailedCreate"
	SuccessfulDelete = "SuccessfulDelete"
	FailedDelete     = "FailedDelete"
	FailedDaemonPod  = "FailedDaemonPod"
)

// sync reconciles one set from the caches: pods to create and delete per node, then one step of
// the rolling update, then status.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.sets.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expect.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	log := c.log.With("daemonset", key)
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || selector.Empty() {
		log.Warn("invalid selector, not syncing", "err", err)
		return nil
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, ds, selector)
	if err != nil {
		return err
	}
	revs, err := c.revisions.Owned(ds, selector)
	if err != nil {
		return err
	}
	cur, collisions, err := c.pickRevision(ctx, ds, revs)
	if err != nil {
		return err
	}
	hash := cur.Labels[history.HashLabel]
	r := &round{c: c, ds: ds, key: key, hash: hash, now: c.now(), log: log, nodes: nodes, byNode: map[string][]*corev1.Pod{}}
	for _, p := range pods {
		r.byNode[pinnedNode(p)] = append(r.byNode[pinnedNode(p)], p)
	}
	for _, list := range r.byNode {
		sort.Slice(list, func(i, j int) bool { return olderFirst(list[i], list[j]) })
	}
	var stepErr error
	if c.expect.Satisfied(key) {
		var changed bool
		changed, stepErr = r.manage(ctx)
		if stepErr == nil && !changed && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			stepErr = r.rollingUpdate(ctx)
		}
	}
	if err := c.writeStatus(ctx, ds, r.status(collisions)); err != nil {
		return err
	}
	if stepErr != nil {
		return stepErr
	}
	live := map[string]bool{cur.Name: true}
	for _, p := range pods {
		live[history.Name(ds.Name, p.Labels[history.HashLabel])] = true
	}
	limit := int32(10)
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = *ds.Spec.RevisionHistoryLimit
	}
	if revs, err = c.revisions.Owned(ds, selector); err != nil {
		return err
	}
	if err := c.revisions.Truncate(ctx, revs, live, limit); err != nil {
		return err
	}
	if r.recheck > 0 {
		c.queue.AddAfter(key, r.recheck)
	}
	return nil
}

func olderFirst(a, b *corev1.Pod) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// pickRevision finds or makes the revision of the current template.
func (c *Controller) pickRevision(ctx context.Context, ds *appsv1.DaemonSet, revs []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, int32, error) {
	var collisions int32
	if ds.Status.CollisionCount != nil {
		collisions = *ds.Status.CollisionCount
	}
	data, err := history.TemplatePatch(&ds.Spec.Template)
	if err != nil {
		return nil, collisions, err
	}
	next := history.Next(revs)
	candidate := history.New(ds, Kind, ds.Spec.Template.Labels, data, next, &collisions)
	equal := history.FindEqual(revs, candidate)
	switch {
	case len(equal) > 0 && equal[len(equal)-1].Revision == next-1:
		return equal[len(equal)-1], collisions, nil
	case len(equal) > 0:
		rev, err := c.revisions.Renumber(ctx, equal[len(equal)-1], next)
		return rev, collisions, err
	default:
		return c.revisions.Create(ctx, ds, candidate, &collisions)
	}
}

// round is one pass of the reconciliation for one set.
type round struct {
	c      *Controller
	ds     *appsv1.DaemonSet
	key    string
	hash   string
	now    time.Time
	log    *slog.Logger
	nodes  []*corev1.Node
	byNode map[string][]*corev1.Pod
	// recheck is when a pod becomes available by minReadySeconds.
	recheck time.Duration
}

func (r *round) alive(node string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range r.byNode[node] {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// stopping reports whether a pod of the node is terminating and has not finished.
func (r *round) stopping(node string) bool {
	for _, p := range r.byNode[node] {
		if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			return true
		}
	}
	return false
}

// markDeleted records a delete just sent, so the rest of the round and its status see it.
func (r *round) markDeleted(p *corev1.Pod) {
	node := pinnedNode(p)
	for i, q := range r.byNode[node] {
		if q.UID == p.UID {
			c := q.DeepCopy()
			now := metav1.NewTime(r.now)
			c.DeletionTimestamp = &now
			r.byNode[node][i] = c
		}
	}
}

func (r *round) available(p *corev1.Pod) bool {
	left := availableIn(p, r.ds.Spec.MinReadySeconds, r.now)
	if left > 0 && (r.recheck == 0 || left < r.recheck) {
		r.recheck = left
	}
	return left == 0
}

// manage creates the pods of nodes that should run one and have none, and deletes pods that
// should not be where they are. It reports whether it sent anything.
func (r *round) manage(ctx context.Context) (bool, error) {
	surge := r.ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType && r.maxSurge() > 0
	var create []string
	var del []*corev1.Pod
	known := map[string]bool{}
	for _, node := range r.nodes {
		known[node.Name] = true
		shouldRun, mayStay := placement(r.ds, node)
		alive := r.alive(node.Name)
		switch {
		case !mayStay:
			del = append(del, alive...)
		case !shouldRun:
			// A NoSchedule taint keeps new pods off but lets the one there stay.
		default:
			var running []*corev1.Pod
			for _, p := range alive {
				if p.Status.Phase == corev1.PodFailed {
					// A failed daemon pod is replaced; the node keeps its daemon.
					r.c.recorder.Eventf(r.ds, corev1.EventTypeWarning, FailedDaemonPod, "Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, node.Name)
					del = append(del, p)
					continue
				}
				running = append(running, p)
			}
			// A pod still shutting down holds the node (its ports, its files) until it is gone.
			if len(running) == 0 && len(alive) == 0 && !r.stopping(node.Name) {
				create = append(create, node.Name)
			}
			del = append(del, extras(running, r.hash, surge)...)
		}
	}
	// Pods of nodes that are gone have nowhere to run.
	for node, pods := range r.byNode {
		if !known[node] {
			for _, p := range pods {
				if p.DeletionTimestamp == nil {
					del = append(del, p)
				}
			}
		}
	}
	if len(create) == 0 && len(del) == 0 {
		return false, nil
	}
	return true, r.apply(ctx, create, del)
}

// extras are the pods beyond one on a node: the oldest stays; during a surge the newest pod of
// the update revision may stay beside it.
func extras(running []*corev1.Pod, hash string, surge bool) []*corev1.Pod {
	if len(running) <= 1 {
		return nil
	}
	if !surge {
		return running[1:]
	}
	keepOld, keepNew := -1, -1
	for i, p := range running {
		if p.Labels[history.HashLabel] == hash {
			keepNew = i
		} else if keepOld < 0 {
			keepOld = i
		}
	}
	var out []*corev1.Pod
	for i, p := range running {
		if i != keepOld && i != keepNew {
			out = append(out, p)
		}
	}
	return out
}

// apply sends the creates and deletes of a round under expectations, so the next round waits
// for the cache to show them all.
func (r *round) apply(ctx context.Context, create []string, del []*corev1.Pod) error {
	uids := make([]string, len(del))
	for i, p := range del {
		uids[i] = string(p.UID)
	}
	r.c.expect.Expect(r.key, len(create), uids)
	var firstErr error
	for _, node := range create {
		pod := newPod(r.ds, node, r.hash)
		created, err := r.c.client.CoreV1().Pods(r.ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			r.c.expect.CreationObserved(r.key)
			r.c.recorder.Eventf(r.ds, corev1.EventTypeWarning, FailedCreate, "Error creating: %v", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		r.c.recorder.Eventf(r.ds, corev1.EventTypeNormal, SuccessfulCreate, "Created pod: %s", created.Name)
		r.log.Info("created pod", "pod", created.Name, "node", node)
		r.byNode[node] = append(r.byNode[node], created)
	}
	for _, p := range del {
		err := r.c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil {
			r.c.expect.DeletionObserved(r.key, string(p.UID))
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				continue
			}
			r.c.recorder.Eventf(r.ds, corev1.EventTypeWarning, FailedDelete, "Error deleting: %v", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		r.c.recorder.Eventf(r.ds, corev1.EventTypeNormal, SuccessfulDelete, "Deleted pod: %s", p.Name)
		r.log.Info("deleted pod", "pod", p.Name, "node", pinnedNode(p))
		r.markDeleted(p)
	}
	return firstErr
}

func (r *round) desired() int {
	n := 0
	for _, node := range r.nodes {
		if ok, _ := placement(r.ds, node); ok {
			n++
		}
	}
	return n
}

func (r *round) maxSurge() int {
	ru := r.ds.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.MaxSurge == nil {
		return 0
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, r.desired(), true)
	if err != nil {
		return 0
	}
	return n
}

func (r *round) maxUnavailable() int {
	ru := r.ds.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil {
		return 1
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, r.desired(), true)
	if err != nil {
		return 1
	}
	if n == 0 && r.maxSurge() == 0 {
		return 1
	}
	return n
}

// rollingUpdate takes one step of replacing pods of old revisions. Without surge, old pods are
// deleted while fewer than maxUnavailable nodes lack an available pod (manage recreates them);
// with surge, a new pod starts beside an old one on up to maxSurge nodes at once, and the old
// pod goes once the new one is available.
func (r *round) rollingUpdate(ctx context.Context) error {
	surge := r.maxSurge()
	var create []string
	var del []*corev1.Pod
	if surge == 0 {
		budget := r.maxUnavailable()
		unavailable := 0
		var candidates []*corev1.Pod
		for _, node := range r.nodes {
			if ok, _ := placement(r.ds, node); !ok {
				continue
			}
			alive := r.alive(node.Name)
			if len(alive) != 1 {
				// No pod yet, or one still going: this node is unavailable either way.
				unavailable++
				continue
			}
			p := alive[0]
			avail := r.available(p)
			if !avail {
				unavailable++
			}
			if p.Labels[history.HashLabel] == r.hash {
				continue
			}
			if !avail {
				del = append(del, p) // already unavailable: replacing it costs nothing
				continue
			}
			candidates = append(candidates, p)
		}
		for _, p := range candidates {
			if unavailable >= budget {
				break
			}
			del = append(del, p)
			unavailable++
		}
	} else {
		inFlight := 0
		type pair struct {
			node     string
			old, new *corev1.Pod
		}
		var pairs []pair
		for _, node := range r.nodes {
			if ok, _ := placement(r.ds, node); !ok {
				continue
			}
			var pr pair
			pr.node = node.Name
			for _, p := range r.alive(node.Name) {
				if p.Labels[history.HashLabel] == r.hash {
					pr.new = p
				} else if pr.old == nil {
					pr.old = p
				}
			}
			if pr.old != nil && pr.new != nil && !r.available(pr.new) {
				inFlight++
			}
			pairs = append(pairs, pr)
		}
		for _, pr := range pairs {
			switch {
			case pr.old == nil:
			case pr.new != nil:
				if r.available(pr.new) {
					del = append(del, pr.old)
				}
			case !r.available(pr.old):
				create = append(create, pr.node) // nothing to keep available here
			case inFlight < surge:
				create = append(create, pr.node)
				inFlight++
			}
		}
	}
	if len(create) == 0 && len(del) == 0 {
		return nil
	}
	return r.apply(ctx, create, del)
}

// status counts per node, as upstream: the oldest live pod of a node is the one that counts.
func (r *round) status(collisions int32) appsv1.DaemonSetStatus {
	st := appsv1.DaemonSetStatus{ObservedGeneration: r.ds.Generation, CollisionCount: &collisions}
	if r.ds.Status.CollisionCount == nil && collisions == 0 {
		st.CollisionCount = nil
	}
	for _, node := range r.nodes {
		shouldRun, _ := placement(r.ds, node)
		alive := r.alive(node.Name)
		if !shouldRun {
			if len(alive) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(alive) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		p := alive[0]
		if isReady(p) {
			st.NumberReady++
			if r.available(p) {
				st.NumberAvailable++
			}
		}
		for _, q := range alive {
			if q.Labels[history.HashLabel] == r.hash {
				st.UpdatedNumberScheduled++
				break
			}
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}

func (c *Controller) writeStatus(ctx context.Context, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus) error {
	st.Conditions = ds.Status.Conditions
	if apiequality.Semantic.DeepEqual(ds.Status, st) {
		return nil
	}
	cp := ds.DeepCopy()
	cp.Status = st
	_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// claimPods returns the set's pods, adopting orphans it selects and releasing pods it controls
// but no longer selects.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	m := &controllerref.Manager{Owner: ds, OwnerKind: Kind, Selector: selector,
		Fresh: func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		},
		// The adopted pod, not the cached one, so that later writes in this sync do not
		// conflict with the adoption.
		Patch: func(ctx context.Context, name string, data []byte) (metav1.Object, error) {
			p, err := c.client.CoreV1().Pods(ds.Namespace).Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
			if err != nil {
				return nil, err
			}
			return p, nil
		}}
	return controllerref.Claim(ctx, m, all)
}
