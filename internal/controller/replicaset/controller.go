package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-dev/skiff/internal/controller/controllerref"
	"github.com/skiff-dev/skiff/internal/controller/expectations"
)

// Kind is what the controller's pods name as their controller.
var Kind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

const (
	// BurstReplicas caps the creates or deletes of one sync, so a ReplicaSet scaled to
	// thousands is worked through in steps while other ReplicaSets get their turn.
	BurstReplicas = 500
	// maxRetries is how often a failing key is retried before it is dropped until its next change.
	maxRetries = 15
)

// Event reasons, as upstream.
const (
	SuccessfulCreate = "SuccessfulCreate"
	FailedCreate     = "FailedCreate"
	SuccessfulDelete = "SuccessfulDelete"
	FailedDelete     = "FailedDelete"
)

// Config is what the controller needs.
type Config struct {
	Client      kubernetes.Interface
	ReplicaSets appsinformers.ReplicaSetInformer
	Pods        coreinformers.PodInformer
	Recorder    record.EventRecorder
	Logger      *slog.Logger
	// Now is the clock for availability and expectations (nil: time.Now).
	Now func() time.Time
	// BurstReplicas overrides BurstReplicas when positive.
	BurstReplicas int
}

// Controller is the ReplicaSet controller.
type Controller struct {
	client   kubernetes.Interface
	rsLister appslisters.ReplicaSetLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
	burst    int

	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *expectations.Expectations
}

// New builds the controller and registers its informer handlers.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.ReplicaSets == nil || cfg.Pods == nil || cfg.Recorder == nil {
		return nil, errors.New("replicaset: Client, ReplicaSets, Pods and Recorder are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BurstReplicas <= 0 {
		cfg.BurstReplicas = BurstReplicas
	}
	c := &Controller{
		client: cfg.Client, rsLister: cfg.ReplicaSets.Lister(), pods: cfg.Pods.Lister(),
		synced:   []cache.InformerSynced{cfg.ReplicaSets.Informer().HasSynced, cfg.Pods.Informer().HasSynced},
		recorder: cfg.Recorder, log: cfg.Logger.With("controller", "replicaset"), now: cfg.Now, burst: cfg.BurstReplicas,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "replicaset"}),
		expectations: expectations.New(cfg.Now),
	}
	if _, err := cfg.ReplicaSets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.deleteRS,
	}); err != nil {
		return nil, err
	}
	if _, err := cfg.Pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run works the queue with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	c.log.Info("starting", "workers", workers)
	defer c.log.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { wait.UntilWithContext(ctx, c.worker, time.Second) })
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNextItem(ctx) {
	}
}

func (c *Controller) processNextItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	err := c.sync(ctx, key)
	switch {
	case err == nil:
		c.queue.Forget(key)
	case apierrors.IsConflict(err) && c.queue.NumRequeues(key) < maxRetries:
		// A write raced a newer version: routine while the cache catches up with our own writes.
		c.log.Debug("sync failed, retrying", "replicaset", key, "err", err)
		c.queue.AddRateLimited(key)
	case c.queue.NumRequeues(key) < maxRetries:
		c.log.Info("sync failed, retrying", "replicaset", key, "err", err)
		c.queue.AddRateLimited(key)
	default:
		c.log.Error("sync failed, dropping until the next change", "replicaset", key, "err", err)
		c.queue.Forget(key)
	}
	return true
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueueAfter(rs *appsv1.ReplicaSet, d time.Duration) {
	key, err := cache.MetaNamespaceKeyFunc(rs)
	if err != nil {
		return
	}
	c.queue.AddAfter(key, d)
}

func (c *Controller) deleteRS(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.expectations.Delete(key)
	c.queue.Add(key)
}

// resolve returns the ReplicaSet a controllerRef names, if it exists with that UID.
func (c *Controller) resolve(ns string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref.Kind != Kind.Kind || ref.APIVersion != Kind.GroupVersion().String() {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// selecting returns the ReplicaSets whose selector matches an orphan pod.
func (c *Controller) selecting(p *corev1.Pod) []*appsv1.ReplicaSet {
	all, err := c.rsLister.ReplicaSets(p.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		out = append(out, rs)
	}
	return out
}

func (c *Controller) addPod(obj any) {
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		// A restarted controller can see a pod already being deleted as an add.
		c.deletePod(p)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		rs := c.resolve(p.Namespace, ref)
		if rs == nil {
			return
		}
		key, _ := cache.MetaNamespaceKeyFunc(rs)
		c.expectations.CreationObserved(key)
		c.queue.Add(key)
		return
	}
	for _, rs := range c.selecting(p) {
		c.enqueue(rs)
	}
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !labels.Equals(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(cur), metav1.GetControllerOfNoCopy(old)
	refChanged := (curRef == nil) != (oldRef == nil) || (curRef != nil && curRef.UID != oldRef.UID)
	if refChanged && oldRef != nil {
		if rs := c.resolve(old.Namespace, oldRef); rs != nil {
			c.enqueue(rs)
		}
	}
	if curRef != nil {
		rs := c.resolve(cur.Namespace, curRef)
		if rs == nil {
			return
		}
		c.enqueue(rs)
		// Availability is a matter of time: look again once the pod has been ready long enough.
		if !Ready(old) && Ready(cur) && rs.Spec.MinReadySeconds > 0 {
			c.enqueueAfter(rs, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.selecting(cur) {
			c.enqueue(rs)
		}
	}
}

func (c *Controller) deletePod(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if p, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil {
		return
	}
	rs := c.resolve(p.Namespace, ref)
	if rs == nil {
		return
	}
	key, _ := cache.MetaNamespaceKeyFunc(rs)
	c.expectations.DeletionObserved(key, p.Namespace+"/"+p.Name)
	c.queue.Add(key)
}

// sync brings one ReplicaSet's pods and status in line with its spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	start := c.now()
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	cached, err := c.rsLister.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	rs := cached.DeepCopy()
	needsSync := c.expectations.Satisfied(key)
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// A bad selector will not fix itself; retrying is pointless.
		c.log.Error("invalid selector", "replicaset", key, "err", err)
		return nil
	}
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var candidates []*corev1.Pod
	for _, p := range all {
		if active(p) {
			candidates = append(candidates, p)
		}
	}
	m := &controllerref.Manager{Owner: rs, OwnerKind: Kind, Selector: sel,
		Fresh: func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
		Patch: func(ctx context.Context, pod string, data []byte) (metav1.Object, error) {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, pod, types.StrategicMergePatchType, data, metav1.PatchOptions{})
			return nil, err
		}}
	pods, err := controllerref.Claim(ctx, m, candidates)
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		var gone []*corev1.Pod
		gone, manageErr = c.manageReplicas(ctx, key, rs, pods, candidates)
		// The pods just deleted are terminating, and status.replicas counts none of those. Counted
		// until the next sync, they would show a scaled-down set with its old availability, and
		// the Deployment controller would take that many pods away again.
		pods = slices.DeleteFunc(slices.Clone(pods), func(p *corev1.Pod) bool { return slices.Contains(gone, p) })
	}
	status := c.calculateStatus(rs, pods, manageErr)
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return err
	}
	c.log.Debug("synced", "replicaset", key, "pods", len(pods), "took", c.now().Sub(start))
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == replicas(updated) && updated.Status.AvailableReplicas != replicas(updated) {
		c.enqueueAfter(updated, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// manageReplicas creates or deletes pods so that len(pods) moves toward spec.replicas. It
// returns the pods it deleted (or found gone).
func (c *Controller) manageReplicas(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods, nsPods []*corev1.Pod) ([]*corev1.Pod, error) {
	diff := len(pods) - int(replicas(rs))
	switch {
	case diff < 0:
		n := min(-diff, c.burst)
		// Expect all before the first create: its watch event can arrive before the next line runs.
		c.expectations.ExpectCreations(key, n)
		c.log.Debug("too few replicas", "replicaset", key, "need", replicas(rs), "creating", n)
		created, err := slowStartBatch(n, 1, func() error { return c.createPod(ctx, rs) })
		for range n - created {
			// Never created: nothing will be observed.
			c.expectations.CreationObserved(key)
		}
		return nil, err
	case diff > 0:
		n := min(diff, c.burst)
		c.log.Debug("too many replicas", "replicaset", key, "need", replicas(rs), "deleting", n)
		victims := c.podsToDelete(rs, pods, nsPods, n)
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = p.Namespace + "/" + p.Name
		}
		c.expectations.ExpectDeletions(key, keys)
		errs := make([]error, len(victims))
		var wg sync.WaitGroup
		for i, p := range victims {
			wg.Go(func() {
				err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
				if err != nil {
					c.expectations.DeletionObserved(key, keys[i])
					if !apierrors.IsNotFound(err) {
						c.recorder.Eventf(rs, corev1.EventTypeWarning, FailedDelete, "Error deleting: %v", err)
						errs[i] = err
					}
					return
				}
				c.recorder.Eventf(rs, corev1.EventTypeNormal, SuccessfulDelete, "Deleted pod: %v", p.Name)
			})
		}
		wg.Wait()
		var gone []*corev1.Pod
		for i, p := range victims {
			if errs[i] == nil {
				gone = append(gone, p)
			}
		}
		return gone, errors.Join(errs...)
	}
	return nil, nil
}

// podsToDelete picks n pods by deletionOrder. Related pods are those of every ReplicaSet with the
// same controller (a Deployment's old and new sets): during a rollout, a node holding two of them
// should lose one first.
func (c *Controller) podsToDelete(rs *appsv1.ReplicaSet, pods, nsPods []*corev1.Pod, n int) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	owners := map[types.UID]bool{rs.UID: true}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if sets, err := c.rsLister.ReplicaSets(rs.Namespace).List(labels.Everything()); err == nil {
			for _, s := range sets {
				if r := metav1.GetControllerOfNoCopy(s); r != nil && r.UID == ref.UID {
					owners[s.UID] = true
				}
			}
		}
	}
	perNode := map[string]int{}
	for _, p := range nsPods {
		if r := metav1.GetControllerOfNoCopy(p); r != nil && owners[r.UID] && p.Spec.NodeName != "" {
			perNode[p.Spec.NodeName]++
		}
	}
	o := deletionOrder{pods: append([]*corev1.Pod(nil), pods...), rank: make([]int, len(pods))}
	for i, p := range o.pods {
		if p.Spec.NodeName != "" {
			o.rank[i] = perNode[p.Spec.NodeName]
		}
	}
	sort.Sort(o)
	return o.pods[:n]
}

// createPod creates one pod from the template; a namespace being deleted is not an error.
func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod, err := PodFromTemplate(&rs.Spec.Template, rs, controllerref.NewControllerRef(rs, Kind))
	if err != nil {
		c.recorder.Eventf(rs, corev1.EventTypeWarning, FailedCreate, "Error creating: %v", err)
		return err
	}
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		c.recorder.Eventf(rs, corev1.EventTypeWarning, FailedCreate, "Error creating: %v", err)
		return err
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, SuccessfulCreate, "Created pod: %v", created.Name)
	return nil
}

// PodFromTemplate is the pod a controller creates from its template.
func PodFromTemplate(t *corev1.PodTemplateSpec, owner metav1.Object, ref *metav1.OwnerReference) (*corev1.Pod, error) {
	if len(t.Labels) == 0 {
		return nil, fmt.Errorf("unable to create pods, no labels")
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: owner.GetName() + "-", Namespace: owner.GetNamespace(),
			Labels: copyMap(t.Labels), Annotations: copyMap(t.Annotations),
			Finalizers: append([]string(nil), t.Finalizers...),
		},
		Spec: *t.Spec.DeepCopy(),
	}
	if ref != nil {
		p.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return p, nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// slowStartBatch calls fn count times in batches of 1, 2, 4, ... and stops after the first batch
// with an error: when every create fails (a quota, a webhook) one failing call is spent, not
// hundreds. It returns how many calls succeeded.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining := count
	done := 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() { errs[i] = fn() })
		}
		wg.Wait()
		ok := 0
		for _, e := range errs {
			if e == nil {
				ok++
			}
		}
		done += ok
		if err := errors.Join(errs...); err != nil {
			return done, err
		}
		remaining -= batch
	}
	return done, nil
}
