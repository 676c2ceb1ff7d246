package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// EventRecorder is the part of client-go's record.EventRecorder the controller uses.
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{})
}

// Event reasons, as upstream writes them.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonCompleted        = "Completed"
	ReasonSuspended        = "Suspended"
	ReasonResumed          = "Resumed"
)

// podIndexName indexes pods by the UID of the Job that controls them.
const podIndexName = "job.batch/controller-uid"

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the job and pod informers.
	Informers informers.SharedInformerFactory
	// Recorder records events on jobs; nil records none.
	Recorder EventRecorder
	Logger   *slog.Logger
	// Clock is the time for start and completion times, deadlines and back-off, and for the queue's
	// delays (default the real clock).
	Clock clock.WithTicker
	// SyncBatchPeriod gathers the pod changes of one job arriving within it into one sync
	// (default 100 ms; upstream uses 1 s).
	SyncBatchPeriod time.Duration
}

// Controller runs Jobs.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	clock    clock.WithTicker
	jobs     batchlisters.JobLister
	podIndex cache.Indexer
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	// orphans holds pod keys that may carry the tracking finalizer without a Job to remove it.
	orphans workqueue.TypedRateLimitingInterface[string]
	exp     *expectations
	backoff *backoffStore
}

// New checks cfg, registers the job and pod informers and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("job: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("job: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.SyncBatchPeriod <= 0 {
		cfg.SyncBatchPeriod = 100 * time.Millisecond
	}
	c := &Controller{
		cfg: cfg, log: cfg.Logger.With("controller", "job"), clock: cfg.Clock,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job", Clock: cfg.Clock}),
		orphans: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job_orphan_pod", Clock: cfg.Clock}),
		exp:     newExpectations(),
		backoff: newBackoffStore(),
	}
	jobInf := cfg.Informers.Batch().V1().Jobs()
	c.jobs = jobInf.Lister()
	jreg, err := jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addJob,
		UpdateFunc: func(_, obj interface{}) { c.addJob(obj) },
		DeleteFunc: c.deleteJob,
	})
	if err != nil {
		return nil, fmt.Errorf("job: watching jobs: %w", err)
	}
	podInf := cfg.Informers.Core().V1().Pods().Informer()
	if _, exists := podInf.GetIndexer().GetIndexers()[podIndexName]; !exists {
		if err := podInf.AddIndexers(cache.Indexers{podIndexName: controllerUIDIndex}); err != nil {
			return nil, fmt.Errorf("job: indexing pods: %w", err)
		}
	}
	c.podIndex = podInf.GetIndexer()
	preg, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	if err != nil {
		return nil, fmt.Errorf("job: watching pods: %w", err)
	}
	c.synced = []cache.InformerSynced{jreg.HasSynced, preg.HasSynced}
	return c, nil
}

func controllerUIDIndex(obj interface{}) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if ref := jobRef(p); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return nil, nil
}

// jobRef is the pod's controller reference when its controller is a batch Job.
func jobRef(p *corev1.Pod) *metav1.OwnerReference {
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "Job" || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
		return nil
	}
	return ref
}

// Run syncs jobs with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	defer c.orphans.ShutDown()
	if workers < 1 {
		workers = 1
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.log.Info("starting", "workers", workers)
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	go wait.UntilWithContext(ctx, c.orphanWorker, time.Second)
	<-ctx.Done()
}

func (c *Controller) worker(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		after, err := c.sync(ctx, key)
		switch {
		case err != nil:
			c.log.Info("sync failed, will retry", "job", key, "err", err)
			c.queue.AddRateLimited(key)
		default:
			c.queue.Forget(key)
			if after > 0 {
				c.queue.AddAfter(key, after)
			}
		}
		c.queue.Done(key)
	}
}

func (c *Controller) orphanWorker(ctx context.Context) {
	for {
		key, quit := c.orphans.Get()
		if quit {
			return
		}
		if err := c.syncOrphanPod(ctx, key); err != nil {
			c.log.Info("releasing orphan pod failed, will retry", "pod", key, "err", err)
			c.orphans.AddRateLimited(key)
		} else {
			c.orphans.Forget(key)
		}
		c.orphans.Done(key)
	}
}

func (c *Controller) addJob(obj interface{}) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) deleteJob(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	c.addJob(j)
	// Its pods lose their owner: nothing else would remove their finalizers.
	pods, _ := c.podIndex.ByIndex(podIndexName, string(j.UID))
	for _, o := range pods {
		if p := o.(*corev1.Pod); hasTrackingFinalizer(p) {
			c.orphans.Add(p.Namespace + "/" + p.Name)
		}
	}
}

// jobKeyOf returns the key of the pod's Job, or "" for a pod no Job controls.
func jobKeyOf(p *corev1.Pod) string {
	if ref := jobRef(p); ref != nil {
		return p.Namespace + "/" + ref.Name
	}
	return ""
}

func (c *Controller) addPod(obj interface{}) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key := jobKeyOf(p)
	if key == "" {
		if hasTrackingFinalizer(p) {
			c.orphans.Add(p.Namespace + "/" + p.Name)
		}
		return
	}
	c.exp.createObserved(key)
	if p.DeletionTimestamp != nil {
		c.exp.deleteObserved(key, p.UID)
	}
	c.checkOwner(p, key)
	c.queue.AddAfter(key, c.cfg.SyncBatchPeriod)
}

// checkOwner hands a pod whose Job is gone (or replaced under the same name) to the orphan queue.
func (c *Controller) checkOwner(p *corev1.Pod, key string) {
	if !hasTrackingFinalizer(p) {
		return
	}
	j, err := c.jobs.Jobs(p.Namespace).Get(jobRef(p).Name)
	if err != nil || j.UID != jobRef(p).UID {
		c.orphans.Add(p.Namespace + "/" + p.Name)
	}
}

func (c *Controller) updatePod(oldObj, newObj interface{}) {
	old, ok1 := oldObj.(*corev1.Pod)
	p, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == p.ResourceVersion {
		return
	}
	key := jobKeyOf(p)
	if oldKey := jobKeyOf(old); oldKey != "" && oldKey != key {
		c.queue.AddAfter(oldKey, c.cfg.SyncBatchPeriod)
	}
	if key == "" {
		if hasTrackingFinalizer(p) {
			c.orphans.Add(p.Namespace + "/" + p.Name)
		}
		return
	}
	if p.DeletionTimestamp != nil {
		c.exp.deleteObserved(key, p.UID)
	}
	if !hasTrackingFinalizer(p) {
		c.exp.finalizerRemovedObserved(key, p.UID)
	}
	c.checkOwner(p, key)
	c.queue.AddAfter(key, c.cfg.SyncBatchPeriod)
}

func (c *Controller) deletePod(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key := jobKeyOf(p)
	if key == "" {
		return
	}
	c.exp.deleteObserved(key, p.UID)
	c.exp.finalizerRemovedObserved(key, p.UID)
	c.queue.AddAfter(key, c.cfg.SyncBatchPeriod)
}

func hasTrackingFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
}

func isTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}
