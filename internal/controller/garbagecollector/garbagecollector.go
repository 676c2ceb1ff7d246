package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// EventRecorder is the part of client-go's record.EventRecorder the collector uses.
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{})
}

// ReasonOwnerRefInvalidNamespace is upstream's event reason for an owner reference that cannot
// point where it claims: a namespaced owner seen in another namespace than its dependent's, or a
// namespaced kind named by a cluster-scoped dependent.
const ReasonOwnerRefInvalidNamespace = "OwnerRefInvalidNamespace"

// Config is what the collector needs.
type Config struct {
	// Metadata reads, patches and deletes objects of any resource.
	Metadata metadata.Interface
	// Discovery lists the served resources.
	Discovery discovery.DiscoveryInterface
	// Informers is the shared metadata-only informer factory; the collector asks it for one
	// informer per resource and starts those it added.
	Informers metadatainformer.SharedInformerFactory
	// Typed are informers of full objects that other controllers keep anyway (pods, in the
	// controller manager): the collector follows those resources through them rather than through
	// a metadata watch and cache of its own. Their owner starts them.
	Typed map[schema.GroupVersionResource]cache.SharedIndexInformer
	// Recorder records events on dependents; nil records none.
	Recorder EventRecorder
	Logger   *slog.Logger
	// DiscoveryPeriod is how often discovery is re-read for resources to follow (default 30 s).
	DiscoveryPeriod time.Duration
	// Ignored resources are not followed (default DefaultIgnored).
	Ignored []schema.GroupResource
	// SyncTimeout bounds the wait for the first full graph before workers start anyway
	// (default 60 s).
	SyncTimeout time.Duration
}

// GarbageCollector keeps the ownership graph and collects what it finds.
type GarbageCollector struct {
	cfg   Config
	log   *slog.Logger
	graph *graph

	changes         *changeQueue
	attemptToDelete workqueue.TypedRateLimitingInterface[types.UID]
	attemptToOrphan workqueue.TypedRateLimitingInterface[types.UID]
	absent          *absentCache

	synced atomic.Bool

	mu       sync.RWMutex
	catalog  *catalog
	monitors map[schema.GroupResource]cache.ResourceEventHandlerRegistration
}

// New checks cfg and returns a collector; Run starts it.
func New(cfg Config) (*GarbageCollector, error) {
	switch {
	case cfg.Metadata == nil:
		return nil, errors.New("garbagecollector: Config.Metadata is required")
	case cfg.Discovery == nil:
		return nil, errors.New("garbagecollector: Config.Discovery is required")
	case cfg.Informers == nil:
		return nil, errors.New("garbagecollector: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DiscoveryPeriod <= 0 {
		cfg.DiscoveryPeriod = 30 * time.Second
	}
	if cfg.Ignored == nil {
		cfg.Ignored = DefaultIgnored
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 60 * time.Second
	}
	return &GarbageCollector{
		cfg: cfg, log: cfg.Logger.With("controller", "garbagecollector"), graph: newGraph(),
		changes: newChangeQueue(),
		attemptToDelete: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_delete"}),
		attemptToOrphan: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_orphan"}),
		absent:   newAbsentCache(10000),
		catalog:  &catalog{kinds: map[schema.GroupVersionKind]resource{}},
		monitors: map[schema.GroupResource]cache.ResourceEventHandlerRegistration{},
	}, nil
}

// Run follows the cluster until ctx ends, with workers goroutines for each of the delete and
// orphan queues.
func (gc *GarbageCollector) Run(ctx context.Context, workers int) {
	if workers < 1 {
		workers = 1
	}
	defer gc.attemptToDelete.ShutDown()
	defer gc.attemptToOrphan.ShutDown()
	go gc.buildGraph(ctx)

	// The first full graph: until every monitor has delivered its initial list, an owner could
	// look free of blocking dependents that simply have not been seen yet.
	_ = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := gc.syncMonitors(ctx); err != nil {
			gc.log.Warn("discovery incomplete, following what is known", "err", err)
		}
		gc.mu.RLock()
		n := len(gc.monitors)
		gc.mu.RUnlock()
		return n > 0, nil
	})
	syncCtx, cancel := context.WithTimeout(ctx, gc.cfg.SyncTimeout)
	if !cache.WaitForCacheSync(syncCtx.Done(), gc.registrationsSynced) {
		gc.log.Warn("not every resource listed in time; collecting with a partial graph", "timeout", gc.cfg.SyncTimeout)
	}
	cancel()
	gc.changes.flush(ctx)
	if ctx.Err() != nil {
		return
	}
	gc.log.Info("graph synced, collecting", "nodes", gc.graph.size(), "workers", workers)
	gc.synced.Store(true)

	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) { gc.runQueue(ctx, gc.attemptToDelete, gc.attemptToDeleteItem) }, time.Second)
		go wait.UntilWithContext(ctx, func(ctx context.Context) { gc.runQueue(ctx, gc.attemptToOrphan, gc.attemptToOrphanItem) }, time.Second)
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := gc.syncMonitors(ctx); err != nil {
			gc.log.Warn("discovery incomplete, following what is known", "err", err)
		}
	}, gc.cfg.DiscoveryPeriod)
	<-ctx.Done()
}

// Synced says the first full graph is built and the workers run.
func (gc *GarbageCollector) Synced() bool { return gc.synced.Load() }

func (gc *GarbageCollector) registrationsSynced() bool {
	gc.mu.RLock()
	defer gc.mu.RUnlock()
	for _, r := range gc.monitors {
		if !r.HasSynced() {
			return false
		}
	}
	return true
}

// syncMonitors re-reads discovery and follows resources not followed yet. Monitors of resources
// that disappear are kept: the shared factory cannot stop one informer, and a vanished resource
// simply delivers nothing.
func (gc *GarbageCollector) syncMonitors(ctx context.Context) error {
	cat, err := discover(gc.cfg.Discovery, gc.cfg.Ignored)
	if cat == nil {
		return err
	}
	added := 0
	gc.mu.Lock()
	// Kinds of groups that failed this time are kept from the previous answer.
	for gvk, r := range gc.catalog.kinds {
		if _, ok := cat.kinds[gvk]; !ok {
			cat.kinds[gvk] = r
		}
	}
	gc.catalog = cat
	for _, r := range cat.monitored {
		gr := r.GVR.GroupResource()
		if _, ok := gc.monitors[gr]; ok {
			continue
		}
		inf := gc.cfg.Typed[r.GVR]
		if inf == nil {
			inf = gc.cfg.Informers.ForResource(r.GVR).Informer()
		}
		reg, herr := inf.AddEventHandler(gc.handler(r))
		if herr != nil {
			err = errors.Join(err, fmt.Errorf("watching %s: %w", r.GVR, herr))
			continue
		}
		gc.monitors[gr] = reg
		added++
	}
	gc.mu.Unlock()
	if added > 0 {
		gc.log.Info("following resources", "added", added, "total", len(gc.monitors))
		gc.cfg.Informers.Start(ctx.Done())
	}
	return err
}

func (gc *GarbageCollector) handler(r resource) cache.ResourceEventHandler {
	push := func(obj interface{}, deleted bool) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		m, err := objectMeta(obj)
		if err != nil {
			gc.log.Warn("unexpected object from informer", "resource", r.GVR.String(), "err", err)
			return
		}
		gc.changes.push(change{res: r, meta: metaOf(m), deleted: deleted})
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { push(obj, false) },
		UpdateFunc: func(oldObj, newObj interface{}) {
			o, err1 := objectMeta(oldObj)
			n, err2 := objectMeta(newObj)
			if err1 == nil && err2 == nil && o.GetResourceVersion() == n.GetResourceVersion() {
				return // a resync: nothing changed
			}
			push(newObj, false)
		},
		DeleteFunc: func(obj interface{}) { push(obj, true) },
	}
}

func objectMeta(obj interface{}) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return m, nil
}

// buildGraph applies observed changes to the graph, one at a time and in order.
func (gc *GarbageCollector) buildGraph(ctx context.Context) {
	for {
		items, ok := gc.changes.take(ctx)
		if !ok {
			return
		}
		for _, it := range items {
			if it.barrier != nil {
				close(it.barrier)
				continue
			}
			w := gc.graph.apply(it.change)
			for _, uid := range w.attemptToDelete {
				gc.attemptToDelete.Add(uid)
			}
			for _, uid := range w.attemptToOrphan {
				gc.attemptToOrphan.Add(uid)
			}
		}
	}
}

func (gc *GarbageCollector) runQueue(ctx context.Context, q workqueue.TypedRateLimitingInterface[types.UID], fn func(context.Context, types.UID) error) {
	for {
		uid, quit := q.Get()
		if quit {
			return
		}
		err := fn(ctx, uid)
		if err != nil {
			gc.log.Info("retrying", "uid", string(uid), "err", err)
			q.AddRateLimited(uid)
		} else {
			q.Forget(uid)
		}
		q.Done(uid)
	}
}

func objectKey(r resource, m meta) string {
	if m.Namespace == "" {
		return r.GVR.Resource + "/" + m.Name
	}
	return r.GVR.Resource + "/" + m.Namespace + "/" + m.Name
}

// attemptToDeleteItem judges one object: collect it, drop references to owners that are gone,
// or, for an owner deleting in foreground, let it go once nothing blocks it.
func (gc *GarbageCollector) attemptToDeleteItem(ctx context.Context, uid types.UID) error {
	v := gc.graph.view(uid)
	if !v.found || v.virtual {
		return nil
	}
	log := gc.log.With("object", objectKey(v.res, v.meta), "uid", string(uid))
	if v.meta.deletingDependents() {
		return gc.finishForeground(ctx, log, v)
	}
	if v.meta.Deleting || len(v.meta.Owners) == 0 {
		return nil
	}
	return gc.withLive(ctx, v.res, v.meta, func(m meta) error {
		if m.deletingDependents() {
			return nil // the update event brings it back as an owner
		}
		if m.Deleting {
			return nil
		}
		return gc.judge(ctx, log, v, m)
	})
}

// withLive runs fn on the cached metadata and, when the object changed under it (a failed
// precondition), once more on a live read.
func (gc *GarbageCollector) withLive(ctx context.Context, r resource, m meta, fn func(meta) error) error {
	err := fn(m)
	if !stale(err) {
		return err
	}
	live, err := gc.cfg.Metadata.Resource(r.GVR).Namespace(m.Namespace).Get(ctx, m.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if live.UID != m.UID {
		return nil // replaced by a namesake: the old object is gone
	}
	return fn(metaOf(live))
}

// stale says a conditional write failed because the object is not as the collector saw it:
// a resourceVersion or uid precondition (409) or a JSON-patch test (422).
func stale(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsInvalid(err)
}

func (gc *GarbageCollector) judge(ctx context.Context, log *slog.Logger, v view, m meta) error {
	states := make(map[types.UID]ownerState, len(m.Owners))
	for _, r := range m.Owners {
		st, err := gc.ownerState(ctx, log, v.res, m, r)
		if err != nil {
			return err
		}
		states[r.UID] = st
	}
	depDeleting := false
	for _, d := range v.dependents {
		depDeleting = depDeleting || d.deletingDependents
	}
	vd := decide(m, states, len(v.dependents) > 0, depDeleting)
	md := gc.cfg.Metadata.Resource(v.res.GVR).Namespace(m.Namespace)
	switch vd.action {
	case keep:
		return nil
	case dropOwners:
		var owners []metav1.OwnerReference
		for _, r := range m.Owners {
			if !containsUID(vd.drop, r.UID) {
				owners = append(owners, r)
			}
		}
		log.Debug("removing references to owners that are gone or deleting", "owners", vd.drop)
		_, err := gc.patchOwners(ctx, v.res, m, owners)
		return ignoreNotFound(err)
	}
	rv := m.ResourceVersion
	if len(vd.unblock) > 0 {
		owners := make([]metav1.OwnerReference, len(m.Owners))
		no := false
		for i, r := range m.Owners {
			owners[i] = r
			if containsUID(vd.unblock, r.UID) {
				owners[i].BlockOwnerDeletion = &no
			}
		}
		out, err := gc.patchOwners(ctx, v.res, m, owners)
		if err != nil {
			return ignoreNotFound(err)
		}
		rv = out.ResourceVersion
	}
	log.Debug("deleting: every owner is gone or deleting", "propagationPolicy", string(vd.policy))
	uid := m.UID
	err := md.Delete(ctx, m.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		PropagationPolicy: &vd.policy,
	})
	return ignoreNotFound(err)
}

// ownerState looks up one owner reference of dependent m (of resource dr). Only a live read may
// call an owner dangling.
func (gc *GarbageCollector) ownerState(ctx context.Context, log *slog.Logger, dr resource, m meta, r metav1.OwnerReference) (ownerState, error) {
	gc.mu.RLock()
	or, err := gc.catalog.lookup(r.APIVersion, r.Kind)
	gc.mu.RUnlock()
	if err != nil {
		return solid, err
	}
	if or.Namespaced && !dr.Namespaced {
		gc.event(dr, m, fmt.Sprintf("ownerRef [%s/%s, namespace: , name: %s, uid: %s] is a namespaced kind, which a cluster-scoped object cannot have as owner",
			r.APIVersion, r.Kind, r.Name, r.UID))
		log.Info("unresolvable owner reference: cluster-scoped dependent, namespaced owner kind", "owner", r.Name, "ownerKind", r.Kind)
		return solid, nil
	}
	ns := ""
	if or.Namespaced {
		ns = m.Namespace
	}
	if gc.absent.has(ns, r.UID) {
		gc.checkNamespace(dr, m, r, ns)
		return dangling, nil
	}
	if res, om, ok := gc.graph.observed(r.UID); ok && om.Namespace == ns && !om.Deleting &&
		res.GVR.Group == or.GVR.Group && res.Kind == or.Kind && om.Name == r.Name {
		return solid, nil // keeping is always safe; the owner's deletion brings the dependent back
	}
	live, err := gc.cfg.Metadata.Resource(or.GVR).Namespace(ns).Get(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return solid, fmt.Errorf("looking up owner %s %s: %w", r.Kind, r.Name, err)
	case live.UID == r.UID:
		if metaOf(live).deletingDependents() {
			return waiting, nil
		}
		return solid, nil
	}
	gc.absent.add(ns, r.UID)
	gc.checkNamespace(dr, m, r, ns)
	return dangling, nil
}

// checkNamespace reports a dangling reference whose uid the graph knows in another namespace.
func (gc *GarbageCollector) checkNamespace(dr resource, m meta, r metav1.OwnerReference, ns string) {
	if _, om, ok := gc.graph.observed(r.UID); ok && om.Namespace != ns {
		gc.event(dr, m, fmt.Sprintf("ownerRef [%s/%s, namespace: %s, name: %s, uid: %s] does not exist in namespace %q",
			r.APIVersion, r.Kind, om.Namespace, r.Name, r.UID, ns))
	}
}

func (gc *GarbageCollector) event(dr resource, m meta, msg string) {
	if gc.cfg.Recorder == nil {
		return
	}
	ref := &corev1.ObjectReference{Kind: dr.Kind, APIVersion: dr.GVR.GroupVersion().String(),
		Namespace: m.Namespace, Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion}
	gc.cfg.Recorder.Eventf(ref, corev1.EventTypeWarning, ReasonOwnerRefInvalidNamespace, "%s", msg)
}

// finishForeground lets an owner deleting in foreground go once no dependent blocks it, and
// otherwise makes sure its blocking dependents are being collected.
func (gc *GarbageCollector) finishForeground(ctx context.Context, log *slog.Logger, v view) error {
	var blocking []types.UID
	for _, d := range v.dependents {
		if d.blocking {
			blocking = append(blocking, d.meta.UID)
			if !d.deletingDependents {
				gc.attemptToDelete.Add(d.meta.UID)
			}
		}
	}
	if len(blocking) > 0 {
		log.Debug("waiting for blocking dependents", "remaining", len(blocking))
		return nil
	}
	return gc.withLive(ctx, v.res, v.meta, func(m meta) error {
		if !m.has(metav1.FinalizerDeleteDependents) {
			return nil
		}
		log.Debug("no dependent blocks it any more: removing the foregroundDeletion finalizer")
		_, err := gc.patchFinalizers(ctx, v.res, m, without(m.Finalizers, metav1.FinalizerDeleteDependents))
		return ignoreNotFound(err)
	})
}

// attemptToOrphanItem removes an owner's references from its dependents, then its orphan finalizer.
func (gc *GarbageCollector) attemptToOrphanItem(ctx context.Context, uid types.UID) error {
	v := gc.graph.view(uid)
	if !v.found || v.virtual || !v.meta.orphaning() {
		return nil
	}
	log := gc.log.With("object", objectKey(v.res, v.meta), "uid", string(uid))
	var errs []error
	for _, d := range v.dependents {
		err := gc.withLive(ctx, d.res, d.meta, func(m meta) error {
			var owners []metav1.OwnerReference
			for _, r := range m.Owners {
				if r.UID != uid {
					owners = append(owners, r)
				}
			}
			if len(owners) == len(m.Owners) {
				return nil
			}
			_, err := gc.patchOwners(ctx, d.res, m, owners)
			return ignoreNotFound(err)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("orphaning %s: %w", objectKey(d.res, d.meta), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Debug("dependents orphaned: removing the orphan finalizer", "dependents", len(v.dependents))
	return gc.withLive(ctx, v.res, v.meta, func(m meta) error {
		if !m.has(metav1.FinalizerOrphanDependents) {
			return nil
		}
		_, err := gc.patchFinalizers(ctx, v.res, m, without(m.Finalizers, metav1.FinalizerOrphanDependents))
		return ignoreNotFound(err)
	})
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

func (gc *GarbageCollector) patchOwners(ctx context.Context, r resource, m meta, want []metav1.OwnerReference) (*metav1.PartialObjectMetadata, error) {
	return gc.patchList(ctx, r, m, "ownerReferences", m.Owners, want, len(want) == 0)
}

func (gc *GarbageCollector) patchFinalizers(ctx context.Context, r resource, m meta, want []string) (*metav1.PartialObjectMetadata, error) {
	return gc.patchList(ctx, r, m, "finalizers", m.Finalizers, want, len(want) == 0)
}

// patchList replaces metadata.<field> (a list) with want, but only if the object still has m's
// uid and the list is still old: a JSON patch whose tests fail (422) instead of overwriting a
// change the collector has not seen.
func (gc *GarbageCollector) patchList(ctx context.Context, r resource, m meta, field string, old, want any, empty bool) (*metav1.PartialObjectMetadata, error) {
	body, err := listPatch(m.UID, field, old, want, empty)
	if err != nil {
		return nil, err
	}
	return gc.cfg.Metadata.Resource(r.GVR).Namespace(m.Namespace).Patch(ctx, m.Name, types.JSONPatchType, body, metav1.PatchOptions{})
}

func listPatch(uid types.UID, field string, old, want any, empty bool) ([]byte, error) {
	path := "/metadata/" + field
	ops := []patchOp{{Op: "test", Path: "/metadata/uid", Value: uid}, {Op: "test", Path: path, Value: old}}
	if empty {
		ops = append(ops, patchOp{Op: "remove", Path: path})
	} else {
		ops = append(ops, patchOp{Op: "replace", Path: path, Value: want})
	}
	return json.Marshal(ops)
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func containsUID(list []types.UID, u types.UID) bool {
	for _, x := range list {
		if x == u {
			return true
		}
	}
	return false
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
