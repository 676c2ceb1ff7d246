package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Metadata lists and deletes the content of any resource.
	Metadata metadata.Interface
	// Discovery lists the namespaced resources; nil means Client.Discovery().
	Discovery Discovery
	// Informers provides the namespace informer.
	Informers informers.SharedInformerFactory
	Logger    *slog.Logger
	// Now is the clock for grace-period estimates (default time.Now).
	Now func() time.Time
}

// Discovery is the part of client-go's discovery client the controller uses.
type Discovery interface {
	ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error)
}

// Controller empties and finalizes deleted namespaces.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	lister corelisters.NamespaceLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg, registers the namespace informer and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("namespace: Config.Client is required")
	case cfg.Metadata == nil:
		return nil, errors.New("namespace: Config.Metadata is required")
	case cfg.Informers == nil:
		return nil, errors.New("namespace: Config.Informers is required")
	}
	if cfg.Discovery == nil {
		cfg.Discovery = cfg.Client.Discovery()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// Upstream's pace: quick retries at first, never more than a minute apart.
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 60*time.Second),
	)
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "namespace"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"})}
	inf := cfg.Informers.Core().V1().Namespaces()
	c.lister = inf.Lister()
	reg, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("namespace: watching namespaces: %w", err)
	}
	c.synced = reg.HasSynced
	return c, nil
}

func (c *Controller) enqueue(obj interface{}) {
	if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
		c.queue.Add(ns.Name)
	}
}

// Run processes deleted namespaces with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if workers < 1 {
		workers = 1
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
}

func (c *Controller) worker(ctx context.Context) {
	for {
		name, quit := c.queue.Get()
		if quit {
			return
		}
		err := c.sync(ctx, name)
		var rem *remainingError
		switch {
		case err == nil:
			c.queue.Forget(name)
		case errors.As(err, &rem) && rem.estimate > 0:
			// Pods in their grace period: look again when it should be over.
			c.queue.Forget(name)
			c.queue.AddAfter(name, rem.estimate+time.Second)
		default:
			c.log.Info("namespace not finished yet", "namespace", name, "err", err)
			c.queue.AddRateLimited(name)
		}
		c.queue.Done(name)
	}
}

// remainingError says content is still going away; estimate is how long pods may still take.
type remainingError struct {
	estimate time.Duration
	what     string
}

func (e *remainingError) Error() string {
	return fmt.Sprintf("content remaining: %s (estimated %s)", e.what, e.estimate)
}

// sync empties one deleted namespace and finalizes it once empty.
func (c *Controller) sync(ctx context.Context, name string) error {
	if _, err := c.lister.Get(name); apierrors.IsNotFound(err) {
		return nil
	}
	// The cache may lag: decide on the live namespace.
	ns, err := c.cfg.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}
	log := c.log.With("namespace", name)
	if ns.Status.Phase != corev1.NamespaceTerminating {
		upd := ns.DeepCopy()
		upd.Status.Phase = corev1.NamespaceTerminating
		if ns, err = c.cfg.Client.CoreV1().Namespaces().UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return ignoreNotFound(err)
		}
	}

	res, discErr := c.namespacedResources()
	if res == nil && discErr != nil {
		if _, err := c.setConditions(ctx, ns, report{discoveryErr: discErr}); err != nil {
			return err
		}
		return discErr
	}
	r := report{discoveryErr: discErr}
	for _, rs := range res {
		c.deleteContent(ctx, log, name, rs, &r)
	}
	if ns, err = c.setConditions(ctx, ns, r); err != nil || ns == nil {
		return err
	}
	if len(r.failed) > 0 {
		return fmt.Errorf("deleting content: %s", strings.Join(r.failed, "; "))
	}
	if discErr != nil {
		return discErr // some groups unseen: their content may remain, so no finalize yet
	}
	if len(r.remaining) > 0 {
		return &remainingError{estimate: r.estimate, what: r.remainingMessage()}
	}

	fin := ns.DeepCopy()
	fin.Spec.Finalizers = slices.DeleteFunc(fin.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
	if _, err := c.cfg.Client.CoreV1().Namespaces().Finalize(ctx, fin, metav1.UpdateOptions{}); err != nil {
		return ignoreNotFound(err)
	}
	log.Info("namespace emptied and finalized")
	return nil
}

// contentResource is one namespaced resource to empty.
type contentResource struct {
	GVR              schema.GroupVersionResource
	DeleteCollection bool
}

func (c *Controller) namespacedResources() ([]contentResource, error) {
	lists, err := c.cfg.Discovery.ServerPreferredNamespacedResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, err
	}
	if len(lists) == 0 && err == nil {
		// Never read as "nothing to delete": that would finalize a namespace with content.
		return nil, errors.New("discovery listed no namespaced resources")
	}
	var out []contentResource
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			out = append(out, contentResource{GVR: gv.WithResource(r.Name), DeleteCollection: slices.Contains(r.Verbs, "deletecollection")})
		}
	}
	return out, err
}

// report gathers what one pass over a namespace found.
type report struct {
	discoveryErr error
	failed       []string       // per resource: why deleting failed
	remaining    map[string]int // "resource.group" -> objects left
	finalizers   map[string]int // finalizer -> objects it holds
	estimate     time.Duration  // longest grace period still running
}

func (r *report) remainingMessage() string {
	return countsMessage(r.remaining, "%s has %d resource instances")
}

func countsMessage(m map[string]int, format string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf(format, k, m[k])
	}
	return strings.Join(parts, ", ")
}

var background = metav1.DeletePropagationBackground

// deleteContent deletes everything of one resource in the namespace and records what is left.
func (c *Controller) deleteContent(ctx context.Context, log *slog.Logger, namespace string, cr contentResource, r *report) {
	client := c.cfg.Metadata.Resource(cr.GVR).Namespace(namespace)
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	deleted := false
	if cr.DeleteCollection {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
			deleted = true
		case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
		default:
			r.failed = append(r.failed, fmt.Sprintf("%s: %v", cr.GVR.GroupResource(), err))
			return
		}
	}
	if !deleted {
		list, err := client.List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
			return
		}
		if err != nil {
			r.failed = append(r.failed, fmt.Sprintf("%s: %v", cr.GVR.GroupResource(), err))
			return
		}
		for i := range list.Items {
			it := &list.Items[i]
			if it.DeletionTimestamp != nil {
				continue
			}
			uid := it.UID
			err := client.Delete(ctx, it.Name, metav1.DeleteOptions{PropagationPolicy: &background, Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				r.failed = append(r.failed, fmt.Sprintf("%s %s: %v", cr.GVR.GroupResource(), it.Name, err))
			}
		}
	}
	// What is left: objects in their grace period or held by finalizers.
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return
	}
	if err != nil {
		r.failed = append(r.failed, fmt.Sprintf("%s: %v", cr.GVR.GroupResource(), err))
		return
	}
	now := c.cfg.Now()
	for i := range list.Items {
		it := &list.Items[i]
		if r.remaining == nil {
			r.remaining, r.finalizers = map[string]int{}, map[string]int{}
		}
		gr := cr.GVR.GroupResource()
		r.remaining[gr.Resource+"."+gr.Group]++
		for _, f := range it.Finalizers {
			r.finalizers[f]++
		}
		// The API server sets deletionTimestamp to the end of the grace period.
		if it.DeletionTimestamp != nil && it.DeletionGracePeriodSeconds != nil && *it.DeletionGracePeriodSeconds > 0 {
			if left := it.DeletionTimestamp.Time.Sub(now); left > r.estimate {
				r.estimate = left
			}
		}
	}
	if n := len(list.Items); n > 0 {
		log.Debug("content remaining", "resource", cr.GVR.GroupResource().String(), "count", n)
	}
}

// conditions builds the namespace's deletion conditions, upstream's five types in upstream's order.
func (r *report) conditions() []corev1.NamespaceCondition {
	cond := func(t corev1.NamespaceConditionType, bad bool, badReason, badMsg, okReason, okMsg string) corev1.NamespaceCondition {
		if bad {
			return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, Reason: badReason, Message: badMsg}
		}
		return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: okReason, Message: okMsg}
	}
	var discMsg string
	if r.discoveryErr != nil {
		var gf *discovery.ErrGroupDiscoveryFailed
		if errors.As(r.discoveryErr, &gf) {
			var groups []string
			for gv, err := range gf.Groups {
				groups = append(groups, fmt.Sprintf("%s: %v", gv, err))
			}
			sort.Strings(groups)
			discMsg = fmt.Sprintf("Discovery failed for some groups, %d failing: %s", len(groups), strings.Join(groups, ", "))
		} else {
			discMsg = fmt.Sprintf("Discovery failed: %v", r.discoveryErr)
		}
	}
	return []corev1.NamespaceCondition{
		cond(corev1.NamespaceDeletionDiscoveryFailure, r.discoveryErr != nil, "DiscoveryFailed", discMsg,
			"ResourcesDiscovered", "All resources successfully discovered"),
		cond(corev1.NamespaceDeletionGVParsingFailure, false, "GroupVersionParsingFailed", "",
			"ParsedGroupVersions", "All legacy kube types successfully parsed"),
		cond(corev1.NamespaceDeletionContentFailure, len(r.failed) > 0, "ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(r.failed), strings.Join(r.failed, ", ")),
			"ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
		cond(corev1.NamespaceContentRemaining, len(r.remaining) > 0, "SomeResourcesRemain",
			"Some resources are remaining: "+r.remainingMessage(), "ContentRemoved", "All content successfully removed"),
		cond(corev1.NamespaceFinalizersRemaining, len(r.finalizers) > 0, "SomeFinalizersRemain",
			"Some content in the namespace has finalizers remaining: "+countsMessage(r.finalizers, "%s in %d resource instances"),
			"ContentHasNoFinalizers", "All content-preserving finalizers finished"),
	}
}

// setConditions writes the report into the namespace's status when something changed, keeping
// the transition time of conditions whose status stayed.
// It returns the namespace as now stored, nil if it is gone.
func (c *Controller) setConditions(ctx context.Context, ns *corev1.Namespace, r report) (*corev1.Namespace, error) {
	want := mergeConditions(ns.Status.Conditions, r.conditions(), metav1.NewTime(c.cfg.Now()))
	if conditionsEqual(ns.Status.Conditions, want) {
		return ns, nil
	}
	upd := ns.DeepCopy()
	upd.Status.Conditions = want
	out, err := c.cfg.Client.CoreV1().Namespaces().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return out, err
}

// mergeConditions replaces the deletion conditions in cur by fresh ones, other conditions kept.
func mergeConditions(cur, fresh []corev1.NamespaceCondition, now metav1.Time) []corev1.NamespaceCondition {
	byType := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
	for _, c := range cur {
		byType[c.Type] = c
	}
	var out []corev1.NamespaceCondition
	seen := map[corev1.NamespaceConditionType]bool{}
	for _, f := range fresh {
		seen[f.Type] = true
		f.LastTransitionTime = now
		if old, ok := byType[f.Type]; ok && old.Status == f.Status {
			f.LastTransitionTime = old.LastTransitionTime
		}
		out = append(out, f)
	}
	for _, c := range cur {
		if !seen[c.Type] {
			out = append(out, c)
		}
	}
	return out
}

func conditionsEqual(a, b []corev1.NamespaceCondition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message || !x.LastTransitionTime.Equal(&y.LastTransitionTime) {
			return false
		}
	}
	return true
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
