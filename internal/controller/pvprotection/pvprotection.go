package pvprotection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Finalizer is the finalizer this controller owns (upstream's name).
const Finalizer = "kubernetes.io/pv-protection"

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the volume informer.
	Informers informers.SharedInformerFactory
	Logger    *slog.Logger
}

// Controller removes the protection finalizer from volumes no longer bound.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	pvs    corelisters.PersistentVolumeLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg, registers the volume informer and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("pvprotection: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("pvprotection: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "pv-protection"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "pvprotection"})}
	inf := cfg.Informers.Core().V1().PersistentVolumes()
	c.pvs = inf.Lister()
	reg, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("pvprotection: watching volumes: %w", err)
	}
	c.synced = reg.HasSynced
	return c, nil
}

func (c *Controller) enqueue(obj any) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok || (pv.DeletionTimestamp == nil && slices.Contains(pv.Finalizers, Finalizer)) {
		return
	}
	c.queue.Add(pv.Name)
}

// Run processes volumes with workers goroutines until ctx ends.
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
		if err := c.sync(ctx, key); err != nil {
			c.log.Info("sync failed, will retry", "pv", key, "err", err)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// sync adds the finalizer to a live volume lacking it, or removes it from a deleting volume that
// is not Bound.
func (c *Controller) sync(ctx context.Context, name string) error {
	pv, err := c.pvs.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	has := slices.Contains(pv.Finalizers, Finalizer)
	cp := pv.DeepCopy()
	switch {
	case pv.DeletionTimestamp == nil && !has:
		cp.Finalizers = append(cp.Finalizers, Finalizer)
	case pv.DeletionTimestamp != nil && has && pv.Status.Phase != corev1.VolumeBound:
		cp.Finalizers = slices.DeleteFunc(cp.Finalizers, func(f string) bool { return f == Finalizer })
	default:
		return nil
	}
	_, err = c.cfg.Client.CoreV1().PersistentVolumes().Update(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		if has {
			c.log.Info("removed protection finalizer: volume not bound", "pv", name, "phase", pv.Status.Phase)
		} else {
			c.log.Info("added protection finalizer", "pv", name)
		}
	}
	return err
}
