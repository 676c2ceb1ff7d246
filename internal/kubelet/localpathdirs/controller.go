package localpathdirs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-dev/skiff/internal/localpath"
)

// Config is what the controller needs. Client, NodeName and Dirs are required.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	Dirs     *Dirs
	// Recorder, when set, gets Warning events on PVs whose directory cannot be made or removed.
	Recorder record.EventRecorder
	Logger   *slog.Logger
}

// Controller follows this node's local-path PVs and keeps their directories.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	factory  informers.SharedInformerFactory
	lister   corelisters.PersistentVolumeLister
	synced   cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	selector labels.Selector
}

// New builds the controller and its informer (PVs labelled skiff.dev/local-path-node=<node>
// only); nothing runs before Run.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.NodeName == "" || cfg.Dirs == nil {
		return nil, fmt.Errorf("localpath: Client, NodeName and Dirs are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	sel := labels.SelectorFromSet(labels.Set{localpath.NodeLabel: cfg.NodeName})
	c := &Controller{
		cfg: cfg, log: log.With("component", "localpath", "node", cfg.NodeName), selector: sel,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "localpath"}),
	}
	c.factory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
	inf := c.factory.Core().V1().PersistentVolumes()
	c.lister, c.synced = inf.Lister(), inf.Informer().HasSynced
	enqueue := func(o any) {
		if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = t.Obj
		}
		if pv, ok := o.(*corev1.PersistentVolume); ok {
			c.queue.Add(pv.Name)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, o any) { enqueue(o) },
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Lister serves this node's local-path PVs from the controller's cache (the volume plugin reads
// them without asking the API server).
func (c *Controller) Lister() corelisters.PersistentVolumeLister { return c.lister }

// HasSynced reports whether the cache has been filled once.
func (c *Controller) HasSynced() bool { return c.synced() }

// Run follows the PVs until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	c.factory.Start(ctx.Done())
	defer c.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	c.log.Info("following local-path volumes", "root", c.cfg.Dirs.Root())
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	name, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(name)
	if err := c.sync(ctx, name); err != nil {
		c.log.Warn("local-path volume", "pv", name, "err", err)
		c.queue.AddRateLimited(name)
		return true
	}
	c.queue.Forget(name)
	return true
}

func (c *Controller) sync(ctx context.Context, name string) error {
	pv, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil // gone with its directory dealt with, or never ours to deal with
	}
	if err != nil {
		return err
	}
	dir, ok, err := c.cfg.Dirs.Owns(pv, c.cfg.NodeName)
	if err != nil {
		// Nothing may be done on disk; a deleting PV must not hang on this node forever.
		c.event(pv, "LocalPathRefused", err.Error())
		if cleanupFor(pv) == cleanupRemove || cleanupFor(pv) == cleanupKeep {
			return c.dropFinalizer(ctx, pv)
		}
		return nil
	}
	if !ok {
		return nil
	}
	switch cleanupFor(pv) {
	case cleanupNotDeleting:
		if err := c.cfg.Dirs.Ensure(dir); err != nil {
			c.event(pv, "LocalPathCreateFailed", fmt.Sprintf("creating %s: %v", dir, err))
			return err
		}
		return nil
	case cleanupRemove:
		if err := c.cfg.Dirs.Remove(dir); err != nil {
			c.event(pv, "VolumeFailedDelete", fmt.Sprintf("removing %s: %v", dir, err))
			return err
		}
		c.log.Info("removed local-path volume directory", "pv", pv.Name, "path", dir)
		return c.dropFinalizer(ctx, pv)
	case cleanupKeep:
		c.log.Info("kept local-path volume directory (reclaim policy Retain)", "pv", pv.Name, "path", dir)
		return c.dropFinalizer(ctx, pv)
	}
	return nil // waiting for protection to go, or nothing left to do
}

// dropFinalizer removes localpath.CleanupFinalizer with a JSON patch that tests its position first, so that
// a concurrent change of the list (another finalizer removed) makes it fail and retry instead of
// removing the wrong entry.
func (c *Controller) dropFinalizer(ctx context.Context, pv *corev1.PersistentVolume) error {
	i := slices.Index(pv.Finalizers, localpath.CleanupFinalizer)
	if i < 0 {
		return nil
	}
	path := fmt.Sprintf("/metadata/finalizers/%d", i)
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": path, "value": localpath.CleanupFinalizer},
		{"op": "remove", "path": path},
	})
	if err != nil {
		return err
	}
	_, err = c.cfg.Client.CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.JSONPatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing finalizer %s: %w", localpath.CleanupFinalizer, err)
	}
	return nil
}

func (c *Controller) event(pv *corev1.PersistentVolume, reason, msg string) {
	if c.cfg.Recorder != nil {
		c.cfg.Recorder.Event(pv, corev1.EventTypeWarning, reason, msg)
	}
}
