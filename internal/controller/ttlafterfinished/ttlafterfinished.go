package ttlafterfinished

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the job informer.
	Informers informers.SharedInformerFactory
	Logger    *slog.Logger
	// Clock decides expiry and drives the queue's delays (default the real clock).
	Clock clock.WithTicker
}

// Controller deletes expired finished Jobs.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	jobs   batchlisters.JobLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg, registers the job informer and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("ttlafterfinished: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("ttlafterfinished: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "ttlafterfinished"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ttl_jobs_to_delete", Clock: cfg.Clock})}
	inf := cfg.Informers.Batch().V1().Jobs()
	c.jobs = inf.Lister()
	reg, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("ttlafterfinished: watching jobs: %w", err)
	}
	c.synced = reg.HasSynced
	return c, nil
}

func (c *Controller) enqueue(obj interface{}) {
	j, ok := obj.(*batchv1.Job)
	if !ok || !needsCleanup(j) {
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(j); err == nil {
		c.queue.Add(key)
	}
}

// Run deletes expired jobs with workers goroutines until ctx ends.
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

// sync deletes the job if it expired, or says how long until it does.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	j, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if left, ok := timeLeft(j, c.cfg.Clock.Now()); !ok || left > 0 {
		return left, nil
	}
	// The cache may be stale (ttl changed, job re-created): judge the live object.
	live, err := c.cfg.Client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if left, ok := timeLeft(live, c.cfg.Clock.Now()); !ok || left > 0 {
		return left, nil
	}
	bg := metav1.DeletePropagationBackground
	err = c.cfg.Client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg,
		Preconditions: &metav1.Preconditions{UID: &live.UID, ResourceVersion: &live.ResourceVersion}})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	c.log.Info("deleted finished job after its TTL", "job", key, "ttlSecondsAfterFinished", *live.Spec.TTLSecondsAfterFinished)
	return 0, nil
}

func needsCleanup(j *batchv1.Job) bool {
	return j.Spec.TTLSecondsAfterFinished != nil && j.DeletionTimestamp == nil && finishTime(j) != nil
}

// timeLeft is how long the job still has; ok is false when it is not up for deletion at all.
func timeLeft(j *batchv1.Job, now time.Time) (time.Duration, bool) {
	if !needsCleanup(j) {
		return 0, false
	}
	expire := finishTime(j).Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second)
	return max(expire.Sub(now), 0), true
}

// finishTime is when the job finished: the transition of its Complete or Failed condition (the
// only time a failed job records), nil while it runs.
func finishTime(j *batchv1.Job) *time.Time {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			t := c.LastTransitionTime.Time
			if j.Status.CompletionTime != nil && c.Type == batchv1.JobComplete {
				t = j.Status.CompletionTime.Time
			}
			return &t
		}
	}
	return nil
}
