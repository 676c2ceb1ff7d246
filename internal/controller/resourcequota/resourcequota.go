package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-dev/skiff/internal/quotausage"
)

// DefaultResyncPeriod is upstream's --resource-quota-sync-period.
const DefaultResyncPeriod = 5 * time.Minute

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides quotas and, as change triggers, the core resources quotas count
	// (pods, services, claims, configmaps, secrets; skiff serves no ReplicationControllers).
	Informers informers.SharedInformerFactory
	// Metadata and Mapper count objects of other resources (count/<resource>.<group>); nil
	// leaves those at zero.
	Metadata metadata.Interface
	Mapper   meta.RESTMapper
	Logger   *slog.Logger
	// ResyncPeriod between full re-measures (default DefaultResyncPeriod).
	ResyncPeriod time.Duration
}

// Controller keeps quotas' status.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	quotas corelisters.ResourceQuotaLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg, registers its informers and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("resourcequota: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("resourcequota: Config.Informers is required")
	case (cfg.Metadata == nil) != (cfg.Mapper == nil):
		return nil, errors.New("resourcequota: Config.Metadata and Config.Mapper go together")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = DefaultResyncPeriod
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "resourcequota"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "resourcequota"})}
	core := cfg.Informers.Core().V1()
	c.quotas = core.ResourceQuotas().Lister()
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{core.ResourceQuotas().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueQuota,
			UpdateFunc: c.quotaUpdated,
		}},
		{core.Pods().Informer(), c.releases(func(old, cur runtime.Object) bool {
			o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
			return holdsCompute(o) && !holdsCompute(n)
		})},
		{core.Services().Informer(), c.releases(func(old, cur runtime.Object) bool {
			o, n := old.(*corev1.Service), cur.(*corev1.Service)
			return o.Spec.Type != n.Spec.Type || len(o.Spec.Ports) != len(n.Spec.Ports) || n.DeletionTimestamp != nil
		})},
		{core.PersistentVolumeClaims().Informer(), c.releases(func(old, cur runtime.Object) bool {
			o, n := old.(*corev1.PersistentVolumeClaim), cur.(*corev1.PersistentVolumeClaim)
			return !apiequality.Semantic.DeepEqual(o.Spec.Resources.Requests, n.Spec.Resources.Requests) || n.DeletionTimestamp != nil
		})},
		{core.ConfigMaps().Informer(), c.releases(nil)},
		{core.Secrets().Informer(), c.releases(nil)},
	}
	for _, h := range handlers {
		reg, err := h.inf.AddEventHandler(h.h)
		if err != nil {
			return nil, fmt.Errorf("resourcequota: %w", err)
		}
		c.synced = append(c.synced, reg.HasSynced)
	}
	return c, nil
}

// holdsCompute: a pod counts compute until it finishes or its deletion is admitted.
func holdsCompute(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// releases re-measures a namespace's quotas when one of its objects is deleted or, per
// changed (nil: never), stops counting as much. Creates need nothing: admission charged them.
func (c *Controller) releases(changed func(old, cur runtime.Object) bool) cache.ResourceEventHandler {
	h := cache.ResourceEventHandlerFuncs{DeleteFunc: c.enqueueNamespaceOf}
	if changed != nil {
		h.UpdateFunc = func(old, cur any) {
			o, ok1 := old.(runtime.Object)
			n, ok2 := cur.(runtime.Object)
			if ok1 && ok2 && changed(o, n) {
				c.enqueueNamespaceOf(cur)
			}
		}
	}
	return h
}

func (c *Controller) enqueueQuota(obj any) {
	if q, ok := obj.(*corev1.ResourceQuota); ok {
		c.queue.Add(q.Namespace + "/" + q.Name)
	}
}

// quotaUpdated reacts to a changed spec, not to usage written by admission or by us.
func (c *Controller) quotaUpdated(old, cur any) {
	o, ok1 := old.(*corev1.ResourceQuota)
	n, ok2 := cur.(*corev1.ResourceQuota)
	if !ok1 || !ok2 {
		return
	}
	if !apiequality.Semantic.DeepEqual(o.Spec, n.Spec) || !apiequality.Semantic.DeepEqual(n.Spec.Hard, n.Status.Hard) {
		c.enqueueQuota(cur)
	}
}

func (c *Controller) enqueueNamespaceOf(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil || m.GetNamespace() == "" {
		return
	}
	qs, err := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range qs {
		c.queue.Add(q.Namespace + "/" + q.Name)
	}
}

// Run keeps quotas with workers goroutines, re-measuring all of them every ResyncPeriod, until
// ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if workers < 1 {
		workers = 1
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	go wait.UntilWithContext(ctx, func(context.Context) {
		qs, err := c.quotas.List(labels.Everything())
		if err != nil {
			return
		}
		for _, q := range qs {
			c.queue.Add(q.Namespace + "/" + q.Name)
		}
	}, c.cfg.ResyncPeriod)
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
			c.log.Info("quota usage not updated, retrying", "quota", key, "err", err)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// sync re-measures one quota. The quota is read live before the objects are listed, and written
// conditionally on that read: a charge by admission in between makes the write conflict, and
// the quota is measured again.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	if _, err := c.quotas.ResourceQuotas(ns).Get(name); apierrors.IsNotFound(err) {
		return nil
	}
	q, err := c.cfg.Client.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	used, err := c.measure(ctx, q)
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(q.Status.Hard, q.Spec.Hard) && apiequality.Semantic.DeepEqual(q.Status.Used, used) {
		return nil
	}
	upd := q.DeepCopy()
	upd.Status.Hard = q.Spec.Hard.DeepCopy()
	upd.Status.Used = used
	if _, err := c.cfg.Client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	c.log.Debug("quota usage recorded", "quota", key, "used", used)
	return nil
}

// measure sums what the namespace's objects count under q.
func (c *Controller) measure(ctx context.Context, q *corev1.ResourceQuota) (corev1.ResourceList, error) {
	used := corev1.ResourceList{}
	for name := range q.Spec.Hard {
		used[name] = resource.Quantity{}
	}
	for gr, names := range quotausage.ByResource(q.Spec.Hard) {
		objs, err := c.list(ctx, q.Namespace, gr)
		if err != nil {
			return nil, fmt.Errorf("measuring %s: %w", gr, err)
		}
		quotausage.Add(used, q, gr, names, objs)
	}
	for n, v := range used {
		used[n] = quotausage.Canonical(v, q.Spec.Hard[n])
	}
	return used, nil
}

// list reads the namespace's objects of gr live; nil for a resource it cannot read.
func (c *Controller) list(ctx context.Context, ns string, gr schema.GroupResource) ([]runtime.Object, error) {
	core := c.cfg.Client.CoreV1()
	opts := metav1.ListOptions{}
	var out []runtime.Object
	collect := func(n int, item func(int) runtime.Object) {
		for i := 0; i < n; i++ {
			out = append(out, item(i))
		}
	}
	if gr.Group == "" {
		switch gr.Resource {
		case "pods":
			l, err := core.Pods(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			collect(len(l.Items), func(i int) runtime.Object { return &l.Items[i] })
			return out, nil
		case "services":
			l, err := core.Services(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			collect(len(l.Items), func(i int) runtime.Object { return &l.Items[i] })
			return out, nil
		case "persistentvolumeclaims":
			l, err := core.PersistentVolumeClaims(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			collect(len(l.Items), func(i int) runtime.Object { return &l.Items[i] })
			return out, nil
		case "resourcequotas":
			l, err := core.ResourceQuotas(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			collect(len(l.Items), func(i int) runtime.Object { return &l.Items[i] })
			return out, nil
		}
	}
	// Everything else counts one per object: metadata is enough.
	if c.cfg.Metadata != nil {
		gvr, err := c.cfg.Mapper.ResourceFor(gr.WithVersion(""))
		if err != nil {
			c.log.Debug("quota names an unknown resource", "namespace", ns, "resource", gr.String())
			return nil, nil
		}
		l, err := c.cfg.Metadata.Resource(gvr).Namespace(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		collect(len(l.Items), func(i int) runtime.Object { return &l.Items[i] })
		return out, nil
	}
	if gr.Group == "" {
		switch gr.Resource {
		case "configmaps":
			l, err := core.ConfigMaps(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			collect(len(l.Items), func(i int) runtime.Object { return &l.Items[i] })
		case "secrets":
			l, err := core.Secrets(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			collect(len(l.Items), func(i int) runtime.Object { return &l.Items[i] })
		case "replicationcontrollers":
			l, err := core.ReplicationControllers(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			collect(len(l.Items), func(i int) runtime.Object { return &l.Items[i] })
		}
	}
	return out, nil
}
