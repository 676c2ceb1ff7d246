package pvcprotection

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
const Finalizer = "kubernetes.io/pvc-protection"

// claimIndex indexes pods by "<namespace>/<claim>" of every claim they use.
const claimIndex = "pvcprotection-claim"

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the claim and pod informers.
	Informers informers.SharedInformerFactory
	Logger    *slog.Logger
}

// Controller removes the protection finalizer from claims no pod uses any more.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	claims corelisters.PersistentVolumeClaimLister
	pods   cache.Indexer
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg, registers its informers and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("pvcprotection: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("pvcprotection: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "pvc-protection"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "pvcprotection"})}
	ci := cfg.Informers.Core().V1().PersistentVolumeClaims()
	c.claims = ci.Lister()
	creg, err := ci.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueClaim,
		UpdateFunc: func(_, obj any) { c.enqueueClaim(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("pvcprotection: watching claims: %w", err)
	}
	pi := cfg.Informers.Core().V1().Pods().Informer()
	if err := pi.AddIndexers(cache.Indexers{claimIndex: claimsOfPodIndex}); err != nil {
		return nil, fmt.Errorf("pvcprotection: indexing pods: %w", err)
	}
	c.pods = pi.GetIndexer()
	preg, err := pi.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueuePodClaims,
		UpdateFunc: func(_, obj any) { c.enqueuePodClaims(obj) },
		DeleteFunc: c.enqueuePodClaims,
	})
	if err != nil {
		return nil, fmt.Errorf("pvcprotection: watching pods: %w", err)
	}
	c.synced = []cache.InformerSynced{creg.HasSynced, preg.HasSynced}
	return c, nil
}

// claimNames lists the claims a pod uses: persistentVolumeClaim volumes and the claims of generic
// ephemeral volumes ("<pod>-<volume>").
func claimNames(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

func claimsOfPodIndex(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	names := claimNames(pod)
	keys := make([]string, 0, len(names))
	for _, n := range names {
		keys = append(keys, pod.Namespace+"/"+n)
	}
	return keys, nil
}

func (c *Controller) enqueueClaim(obj any) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	if pvc.DeletionTimestamp == nil && slices.Contains(pvc.Finalizers, Finalizer) {
		return
	}
	c.queue.Add(pvc.Namespace + "/" + pvc.Name)
}

// enqueuePodClaims looks again at the claims of a pod that changed or went: it may have been the
// last one holding a claim being deleted.
func (c *Controller) enqueuePodClaims(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	for _, n := range claimNames(pod) {
		pvc, err := c.claims.PersistentVolumeClaims(pod.Namespace).Get(n)
		if err == nil && pvc.DeletionTimestamp != nil {
			c.queue.Add(pod.Namespace + "/" + n)
		}
	}
}

// Run processes claims with workers goroutines until ctx ends.
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
			c.log.Info("sync failed, will retry", "pvc", key, "err", err)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// sync adds the finalizer to a live claim lacking it, or removes it from a deleting claim no pod
// uses.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pvc, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	has := slices.Contains(pvc.Finalizers, Finalizer)
	if pvc.DeletionTimestamp == nil {
		if has {
			return nil
		}
		cp := pvc.DeepCopy()
		cp.Finalizers = append(cp.Finalizers, Finalizer)
		_, err := c.cfg.Client.CoreV1().PersistentVolumeClaims(ns).Update(ctx, cp, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil {
			c.log.Info("added protection finalizer", "pvc", key)
		}
		return err
	}
	if !has {
		return nil
	}
	if user := c.userInCache(pvc); user != "" {
		c.log.Debug("claim still in use", "pvc", key, "pod", user)
		return nil
	}
	// The pod informer may not yet have seen a pod that was just bound; ask the API server.
	pods, err := c.cfg.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range pods.Items {
		if Uses(&pods.Items[i], pvc) {
			c.log.Debug("claim still in use (live list)", "pvc", key, "pod", pods.Items[i].Name)
			return nil
		}
	}
	cp := pvc.DeepCopy()
	cp.Finalizers = slices.DeleteFunc(cp.Finalizers, func(f string) bool { return f == Finalizer })
	_, err = c.cfg.Client.CoreV1().PersistentVolumeClaims(ns).Update(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		c.log.Info("removed protection finalizer: no pod uses the claim", "pvc", key)
	}
	return err
}

func (c *Controller) userInCache(pvc *corev1.PersistentVolumeClaim) string {
	objs, err := c.pods.ByIndex(claimIndex, pvc.Namespace+"/"+pvc.Name)
	if err != nil {
		return ""
	}
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && Uses(p, pvc) {
			return p.Name
		}
	}
	return ""
}

// Uses says whether pod holds pvc: it is scheduled (the kubelet only starts scheduled pods, and
// refuses claims being deleted), not terminated, and names the claim. A generic ephemeral
// volume's claim counts only when the pod owns it, as a same-named claim of another pod is not
// this pod's.
func Uses(pod *corev1.Pod, pvc *corev1.PersistentVolumeClaim) bool {
	if pod.Namespace != pvc.Namespace || pod.Spec.NodeName == "" ||
		pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name:
			return true
		case v.Ephemeral != nil && pod.Name+"-"+v.Name == pvc.Name && metav1.IsControlledBy(pvc, pod):
			return true
		}
	}
	return false
}
