package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// DefaultName is the account every namespace gets.
const DefaultName = "default"

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the namespace and service account informers.
	Informers informers.SharedInformerFactory
	Logger    *slog.Logger
	// Names are the accounts to keep in every namespace (default: "default").
	Names []string
}

// Controller keeps the default service account in every namespace.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg, registers its informers and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("serviceaccount: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("serviceaccount: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Names) == 0 {
		cfg.Names = []string{DefaultName}
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "serviceaccount"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"})}
	nsInf := cfg.Informers.Core().V1().Namespaces()
	saInf := cfg.Informers.Core().V1().ServiceAccounts()
	c.nsLister, c.saLister = nsInf.Lister(), saInf.Lister()
	nsReg, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNamespace,
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("serviceaccount: watching namespaces: %w", err)
	}
	saReg, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.accountDeleted})
	if err != nil {
		return nil, fmt.Errorf("serviceaccount: watching service accounts: %w", err)
	}
	c.synced = []cache.InformerSynced{nsReg.HasSynced, saReg.HasSynced}
	return c, nil
}

func (c *Controller) enqueueNamespace(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok && ns.Status.Phase != corev1.NamespaceTerminating {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller) accountDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if sa, ok := obj.(*corev1.ServiceAccount); ok {
		c.queue.Add(sa.Namespace)
	}
}

// Run keeps the accounts with workers goroutines until ctx ends.
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
			c.log.Info("creating service accounts failed, retrying", "namespace", key, "err", err)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// sync creates the accounts missing from one namespace.
func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.nsLister.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return nil
	}
	var errs []error
	for _, name := range c.cfg.Names {
		if _, err := c.saLister.ServiceAccounts(namespace).Get(name); err == nil {
			continue
		} else if !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
		_, err := c.cfg.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
		switch {
		case err == nil:
			c.log.Debug("service account created", "namespace", namespace, "name", name)
		case apierrors.IsAlreadyExists(err):
			// The cache lags behind a create of ours or someone else's: nothing to do.
		case apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			// The namespace started terminating since the cache saw it.
		default:
			errs = append(errs, fmt.Errorf("creating %s/%s: %w", namespace, name, err))
		}
	}
	return errors.Join(errs...)
}
