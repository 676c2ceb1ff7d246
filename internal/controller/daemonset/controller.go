package daemonset

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
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

	"github.com/skiff-dev/skiff/internal/controller/expectations"
	"github.com/skiff-dev/skiff/internal/controller/history"
)

// Kind is what the set's pods and revisions name as their controller.
var Kind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

const maxRetries = 15

// Config is what the controller needs.
type Config struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Recorder  record.EventRecorder
	Logger    *slog.Logger
	// Now is the clock for minReadySeconds and expectations (nil: time.Now).
	Now func() time.Time
}

// Controller is the DaemonSet controller.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.DaemonSetLister
	pods      corelisters.PodLister
	nodes     corelisters.NodeLister
	revisions history.Store
	synced    []cache.InformerSynced
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time
	queue     workqueue.TypedRateLimitingInterface[string]
	expect    *expectations.Expectations
}

// New builds the controller and registers its informer handlers; start the factory after it.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Informers == nil || cfg.Recorder == nil {
		return nil, errors.New("daemonset: Client, Informers and Recorder are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sets := cfg.Informers.Apps().V1().DaemonSets()
	pods := cfg.Informers.Core().V1().Pods()
	nodes := cfg.Informers.Core().V1().Nodes()
	revs := cfg.Informers.Apps().V1().ControllerRevisions()
	c := &Controller{
		client: cfg.Client, sets: sets.Lister(), pods: pods.Lister(), nodes: nodes.Lister(),
		revisions: history.Store{Client: cfg.Client, Lister: revs.Lister()},
		synced: []cache.InformerSynced{sets.Informer().HasSynced, pods.Informer().HasSynced,
			nodes.Informer().HasSynced, revs.Informer().HasSynced},
		recorder: cfg.Recorder, log: cfg.Logger.With("controller", "daemonset"), now: cfg.Now,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset"}),
		expect: expectations.New(cfg.Now),
	}
	if _, err := sets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.expect.Delete(key)
			}
			c.enqueue(obj)
		},
	}); err != nil {
		return nil, err
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			p := obj.(*corev1.Pod)
			if key, ok := c.controllerKey(p); ok {
				if p.DeletionTimestamp != nil {
					c.expect.DeletionObserved(key, string(p.UID))
				} else {
					c.expect.CreationObserved(key)
				}
				c.queue.Add(key)
				return
			}
			c.enqueueSelecting(p)
		},
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
			if o.ResourceVersion == n.ResourceVersion {
				return
			}
			if okey, ok := c.controllerKey(o); ok {
				if nkey, nok := c.controllerKey(n); !nok || nkey != okey {
					c.queue.Add(okey)
				}
			}
			key, ok := c.controllerKey(n)
			if !ok {
				c.enqueueSelecting(n)
				return
			}
			if n.DeletionTimestamp != nil && o.DeletionTimestamp == nil {
				c.expect.DeletionObserved(key, string(n.UID))
			}
			c.queue.Add(key)
		},
		DeleteFunc: func(obj any) {
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
			if key, ok := c.controllerKey(p); ok {
				c.expect.DeletionObserved(key, string(p.UID))
				c.queue.Add(key)
			}
		},
	}); err != nil {
		return nil, err
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			// Heartbeats change only status; placement depends on labels, taints and the name.
			if !labels.Equals(o.Labels, n.Labels) || !apiequality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
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
	case c.queue.NumRequeues(key) < maxRetries:
		c.log.Info("sync failed, retrying", "daemonset", key, "err", err)
		c.queue.AddRateLimited(key)
	default:
		c.log.Error("sync failed, dropping until the next change", "daemonset", key, "err", err)
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

func (c *Controller) enqueueAll() {
	sets, err := c.sets.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range sets {
		c.enqueue(ds)
	}
}

// controllerKey is the key of the set controlling a pod, if a set of ours does.
func (c *Controller) controllerKey(p *corev1.Pod) (string, bool) {
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil || ref.Kind != Kind.Kind || ref.APIVersion != Kind.GroupVersion().String() {
		return "", false
	}
	ds, err := c.sets.DaemonSets(p.Namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return "", false
	}
	return p.Namespace + "/" + ref.Name, true
}

func (c *Controller) enqueueSelecting(p *corev1.Pod) {
	if p.DeletionTimestamp != nil || metav1.GetControllerOfNoCopy(p) != nil {
		return
	}
	sets, err := c.sets.DaemonSets(p.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range sets {
		if sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
			c.enqueue(ds)
		}
	}
}
