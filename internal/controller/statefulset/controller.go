package statefulset

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-dev/skiff/internal/controller/history"
)

// Kind is what the set's pods, claims and revisions name as their owner.
var Kind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// maxRetries is how often a failing key is retried before it waits for its next change.
const maxRetries = 15

// Config is what the controller needs.
type Config struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Recorder  record.EventRecorder
	Logger    *slog.Logger
	// Now is the clock for minReadySeconds (nil: time.Now).
	Now func() time.Time
}

// Controller is the StatefulSet controller.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.StatefulSetLister
	pods      corelisters.PodLister
	claims    corelisters.PersistentVolumeClaimLister
	revisions history.Store
	synced    []cache.InformerSynced
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time
	queue     workqueue.TypedRateLimitingInterface[string]
}

// New builds the controller and registers its informer handlers; start the factory after it.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Informers == nil || cfg.Recorder == nil {
		return nil, errors.New("statefulset: Client, Informers and Recorder are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sets := cfg.Informers.Apps().V1().StatefulSets()
	pods := cfg.Informers.Core().V1().Pods()
	claims := cfg.Informers.Core().V1().PersistentVolumeClaims()
	revs := cfg.Informers.Apps().V1().ControllerRevisions()
	c := &Controller{
		client: cfg.Client, sets: sets.Lister(), pods: pods.Lister(), claims: claims.Lister(),
		revisions: history.Store{Client: cfg.Client, Lister: revs.Lister()},
		synced: []cache.InformerSynced{sets.Informer().HasSynced, pods.Informer().HasSynced,
			claims.Informer().HasSynced, revs.Informer().HasSynced},
		recorder: cfg.Recorder, log: cfg.Logger.With("controller", "statefulset"), now: cfg.Now,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "statefulset"}),
	}
	if _, err := sets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, err
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.podChanged,
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
			if o.ResourceVersion == n.ResourceVersion {
				return
			}
			// A pod whose labels or controller changed may have left a set that must notice.
			if !labels.Equals(o.Labels, n.Labels) || !sameController(o, n) {
				c.podChanged(o)
			}
			c.podChanged(n)
		},
		DeleteFunc: c.podChanged,
	}); err != nil {
		return nil, err
	}
	// Claims deleted under a running pod are recreated before the pod's next incarnation.
	if _, err := claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.claimDeleted}); err != nil {
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
	case c.queue.NumRequeues(key) < maxRetries:
		c.log.Info("sync failed, retrying", "statefulset", key, "err", err)
		c.queue.AddRateLimited(key)
	default:
		c.log.Error("sync failed, dropping until the next change", "statefulset", key, "err", err)
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

func (c *Controller) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		t, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if p, ok = t.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		if ref.Kind != Kind.Kind || ref.APIVersion != Kind.GroupVersion().String() {
			return
		}
		if set, err := c.sets.StatefulSets(p.Namespace).Get(ref.Name); err == nil && set.UID == ref.UID {
			c.enqueue(set)
		}
		return
	}
	// An orphan: every set that could adopt it looks.
	if p.DeletionTimestamp != nil {
		return
	}
	sets, err := c.sets.StatefulSets(p.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, set := range sets {
		if sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
			c.enqueue(set)
		}
	}
}

func (c *Controller) claimDeleted(obj any) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		t, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pvc, ok = t.Obj.(*corev1.PersistentVolumeClaim); !ok {
			return
		}
	}
	sets, err := c.sets.StatefulSets(pvc.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, set := range sets {
		if sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(pvc.Labels)) {
			c.enqueue(set)
		}
	}
}

func sameController(a, b *corev1.Pod) bool {
	ra, rb := metav1.GetControllerOfNoCopy(a), metav1.GetControllerOfNoCopy(b)
	if ra == nil || rb == nil {
		return ra == rb
	}
	return ra.UID == rb.UID
}
