package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-dev/skiff/internal/controller/serviceendpoints"
)

// ManagedBy is the managed-by label value of the slices this controller owns (upstream's).
const ManagedBy = "endpointslice-controller.k8s.io"

// Defaults.
const (
	DefaultMaxEndpointsPerSlice = 100
	// DefaultBatchPeriod: see endpoints.DefaultBatchPeriod.
	DefaultBatchPeriod = 50 * time.Millisecond
)

// byServiceIndex indexes the slices this controller manages by their Service's key.
const byServiceIndex = "skiff-endpointslice-by-service"

// expectationTimeout bounds how long a write of ours may stay unseen before the cache is
// trusted again (someone else may have deleted the slice meanwhile).
const expectationTimeout = 5 * time.Second

// errStaleCache asks for a retry once the informer caught up with our writes.
var errStaleCache = errors.New("endpoint slice cache is older than our last writes")

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the Service, Pod and EndpointSlice informers.
	Informers informers.SharedInformerFactory
	// Recorder receives Warning events on failed writes (optional).
	Recorder record.EventRecorder
	Logger   *slog.Logger
	// MaxEndpointsPerSlice (default DefaultMaxEndpointsPerSlice, at most 1000).
	MaxEndpointsPerSlice int
	// BatchPeriod delays syncs caused by pod changes (default DefaultBatchPeriod; negative: none).
	BatchPeriod time.Duration
	// Now is the clock of trigger times (default time.Now).
	Now func() time.Time
}

// Controller keeps EndpointSlices.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	slices   cache.Indexer
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	triggers serviceendpoints.TriggerTimes

	mu sync.Mutex
	// expect holds, per Service, the slices written and the resourceVersion each must reach
	// in the cache (0: deleted), with when it was written.
	expect map[string]map[string]expectation
}

type expectation struct {
	rv uint64
	at time.Time
}

// New checks cfg, registers its informers and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("endpointslice: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("endpointslice: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxEndpointsPerSlice <= 0 {
		cfg.MaxEndpointsPerSlice = DefaultMaxEndpointsPerSlice
	}
	if cfg.MaxEndpointsPerSlice > 1000 {
		return nil, fmt.Errorf("endpointslice: MaxEndpointsPerSlice %d exceeds 1000", cfg.MaxEndpointsPerSlice)
	}
	if cfg.BatchPeriod == 0 {
		cfg.BatchPeriod = DefaultBatchPeriod
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "endpointslice"), expect: map[string]map[string]expectation{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpointslice"})}
	si := cfg.Informers.Core().V1().Services()
	pi := cfg.Informers.Core().V1().Pods()
	esi := cfg.Informers.Discovery().V1().EndpointSlices()
	c.services, c.pods = si.Lister(), pi.Lister()
	inf := esi.Informer()
	if _, exists := inf.GetIndexer().GetIndexers()[byServiceIndex]; !exists {
		if err := inf.AddIndexers(cache.Indexers{byServiceIndex: serviceOfSlice}); err != nil {
			return nil, fmt.Errorf("endpointslice: indexing slices: %w", err)
		}
	}
	c.slices = inf.GetIndexer()
	sr, err := si.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.serviceChanged,
		UpdateFunc: func(_, cur any) { c.serviceChanged(cur) },
		DeleteFunc: c.serviceChanged,
	})
	if err != nil {
		return nil, fmt.Errorf("endpointslice: watching services: %w", err)
	}
	pr, err := pi.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.podChanged(nil, obj) },
		UpdateFunc: c.podChanged,
		DeleteFunc: func(obj any) { c.podChanged(nil, obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("endpointslice: watching pods: %w", err)
	}
	er, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.sliceChanged,
		UpdateFunc: func(_, cur any) { c.sliceChanged(cur) },
		DeleteFunc: c.sliceChanged,
	})
	if err != nil {
		return nil, fmt.Errorf("endpointslice: watching slices: %w", err)
	}
	c.synced = []cache.InformerSynced{sr.HasSynced, pr.HasSynced, er.HasSynced}
	return c, nil
}

// serviceOfSlice is the index function: a managed slice's Service key.
func serviceOfSlice(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels[discoveryv1.LabelServiceName] == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]}, nil
}

func (c *Controller) serviceChanged(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.triggers.Note(key, c.cfg.Now())
	c.queue.Add(key)
}

func (c *Controller) podChanged(old, cur any) {
	now := c.cfg.Now()
	for _, key := range serviceendpoints.ServicesOfPodChange(c.services, old, cur) {
		c.triggers.Note(key, now)
		if c.cfg.BatchPeriod > 0 {
			c.queue.AddAfter(key, c.cfg.BatchPeriod)
		} else {
			c.queue.Add(key)
		}
	}
}

// sliceChanged resyncs the Service of a managed slice: our own writes come back as no-ops,
// anyone else's are undone.
func (c *Controller) sliceChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	keys, _ := serviceOfSlice(obj)
	for _, k := range keys {
		c.queue.Add(k)
	}
}

// Run keeps EndpointSlices with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if workers < 1 {
		workers = 1
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
}

func (c *Controller) worker(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		if err := c.sync(ctx, key); err != nil {
			if !errors.Is(err, errStaleCache) {
				c.log.Info("syncing endpoint slices failed, retrying", "service", key, "err", err)
			}
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// managed lists the slices this controller keeps for a Service key.
func (c *Controller) managed(key string) ([]*discoveryv1.EndpointSlice, error) {
	objs, err := c.slices.ByIndex(byServiceIndex, key)
	if err != nil {
		return nil, err
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// fresh reports whether the cache reflects every write of ours for key, forgetting what it
// has seen (and what is too old to wait for).
func (c *Controller) fresh(key string, cached []*discoveryv1.EndpointSlice) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.expect[key]
	if len(exp) == 0 {
		return true
	}
	have := make(map[string]uint64, len(cached))
	for _, s := range cached {
		rv, _ := strconv.ParseUint(s.ResourceVersion, 10, 64)
		have[s.Name] = rv
	}
	now := c.cfg.Now()
	for name, e := range exp {
		rv, present := have[name]
		seen := (e.rv == 0 && !present) || (e.rv != 0 && present && rv >= e.rv)
		if seen || now.Sub(e.at) > expectationTimeout {
			delete(exp, name)
		}
	}
	if len(exp) == 0 {
		delete(c.expect, key)
		return true
	}
	return false
}

// wrote records a write of ours (rv "" for a delete).
func (c *Controller) wrote(key, name, resourceVersion string) {
	rv, err := strconv.ParseUint(resourceVersion, 10, 64)
	if resourceVersion != "" && err != nil {
		return // not a revision: nothing to compare against
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expect[key] == nil {
		c.expect[key] = map[string]expectation{}
	}
	c.expect[key][name] = expectation{rv: rv, at: c.cfg.Now()}
}

// sync makes the slices of one Service match its pods.
func (c *Controller) sync(ctx context.Context, key string) (err error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	current, err := c.managed(key)
	if err != nil {
		return err
	}
	if !c.fresh(key, current) {
		return errStaleCache
	}
	trigger := c.triggers.Take(key)
	defer func() {
		if err != nil && !trigger.IsZero() {
			c.triggers.Note(key, trigger)
		}
	}()
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector would remove them too (the Service owns them); doing it here
		// makes it prompt and independent of the collector running.
		return c.apply(ctx, key, nil, plan{deletes: current})
	}
	if err != nil {
		return err
	}
	if !serviceendpoints.Selects(svc) || svc.DeletionTimestamp != nil {
		return c.apply(ctx, key, svc, plan{deletes: current})
	}
	pods, err := serviceendpoints.Pods(c.pods, svc)
	if err != nil {
		return err
	}
	desired := Desired(svc, pods, func(pod *corev1.Pod, port string, err error) {
		c.log.Debug("target port not resolved", "service", key, "pod", pod.Namespace+"/"+pod.Name, "port", port, "err", err)
	})
	p := Reconcile(svc, current, desired, c.cfg.MaxEndpointsPerSlice)
	if !trigger.IsZero() {
		for _, s := range append(p.creates, p.updates...) {
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[serviceendpoints.TriggerTimeAnnotation] = serviceendpoints.FormatTriggerTime(trigger)
		}
	} else {
		for _, s := range append(p.creates, p.updates...) {
			delete(s.Annotations, serviceendpoints.TriggerTimeAnnotation)
		}
	}
	return c.apply(ctx, key, svc, p)
}

// apply writes a plan: creates first, then updates, then deletes, so that no endpoint is
// missing from every slice in between.
func (c *Controller) apply(ctx context.Context, key string, svc *corev1.Service, p plan) error {
	if p.empty() {
		return nil
	}
	client := c.cfg.Client.DiscoveryV1().EndpointSlices(namespaceOf(key))
	var errs []error
	for _, s := range p.creates {
		got, err := client.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			if apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			errs = append(errs, fmt.Errorf("creating a slice: %w", err))
			continue
		}
		c.wrote(key, got.Name, got.ResourceVersion)
	}
	for _, s := range p.updates {
		got, err := client.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("updating slice %s: %w", s.Name, err))
			continue
		}
		c.wrote(key, got.Name, got.ResourceVersion)
	}
	for _, s := range p.deletes {
		err := client.Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("deleting slice %s: %w", s.Name, err))
			continue
		}
		c.wrote(key, s.Name, "")
	}
	err := errors.Join(errs...)
	if err != nil && svc != nil && c.cfg.Recorder != nil {
		c.cfg.Recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices", "Error updating Endpoint Slices for Service %s: %v", key, err)
	}
	if err == nil {
		c.log.Debug("endpoint slices written", "service", key, "created", len(p.creates), "updated", len(p.updates), "deleted", len(p.deletes))
	}
	return err
}

func namespaceOf(key string) string {
	ns, _, _ := cache.SplitMetaNamespaceKey(key)
	return ns
}
