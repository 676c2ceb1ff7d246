package persistentvolume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-dev/skiff/internal/localpath"
)

// Annotations and event reasons, as upstream names them.
const (
	AnnBindCompleted      = "pv.kubernetes.io/bind-completed"
	AnnBoundByController  = "pv.kubernetes.io/bound-by-controller"
	AnnProvisionedBy      = "pv.kubernetes.io/provisioned-by"
	AnnSelectedNode       = "volume.kubernetes.io/selected-node"
	AnnStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	// AnnBetaStorageProvisioner is still written next to AnnStorageProvisioner, as upstream does.
	AnnBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"

	ReasonFailedBinding          = "FailedBinding"
	ReasonVolumeMismatch         = "VolumeMismatch"
	ReasonClaimLost              = "ClaimLost"
	ReasonClaimMisbound          = "ClaimMisbound"
	ReasonWaitForFirstConsumer   = "WaitForFirstConsumer"
	ReasonExternalProvisioning   = "ExternalProvisioning"
	ReasonProvisioning           = "Provisioning"
	ReasonProvisioningSucceeded  = "ProvisioningSucceeded"
	ReasonProvisioningFailed     = "ProvisioningFailed"
	ReasonVolumeFailedDelete     = "VolumeFailedDelete"
	ReasonVolumeFailedRecycle    = "VolumeFailedRecycle"
	ReasonResizing               = "Resizing"
	ReasonVolumeResizeSuccessful = "VolumeResizeSuccessful"
)

// DefaultResync is how often every claim and volume is looked at again without an event, as
// upstream's PV controller does (a claim waiting for a volume that nobody announces, say).
const DefaultResync = 15 * time.Second

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the PV, PVC, StorageClass and Node informers.
	Informers informers.SharedInformerFactory
	// Recorder receives the events on claims and volumes (component persistentvolume-controller).
	Recorder record.EventRecorder
	Logger   *slog.Logger
	// Resync overrides DefaultResync; negative disables it.
	Resync time.Duration
	// Now is the clock of phase transition times (default time.Now).
	Now func() time.Time
}

// Controller is the PV controller.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	client   kubernetes.Interface
	recorder record.EventRecorder
	now      func() time.Time

	pvs     corelisters.PersistentVolumeLister
	pvcs    corelisters.PersistentVolumeClaimLister
	classes storagelisters.StorageClassLister
	nodes   corelisters.NodeLister
	synced  []cache.InformerSynced

	claimQueue  workqueue.TypedRateLimitingInterface[string]
	volumeQueue workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg, registers its informers and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("persistentvolume: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("persistentvolume: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Recorder == nil {
		cfg.Recorder = &record.FakeRecorder{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Resync == 0 {
		cfg.Resync = DefaultResync
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "persistentvolume-binder"),
		client: cfg.Client, recorder: cfg.Recorder, now: cfg.Now,
		claimQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "claims"}),
		volumeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "volumes"}),
	}
	pvInf := cfg.Informers.Core().V1().PersistentVolumes()
	pvcInf := cfg.Informers.Core().V1().PersistentVolumeClaims()
	scInf := cfg.Informers.Storage().V1().StorageClasses()
	nodeInf := cfg.Informers.Core().V1().Nodes()
	c.pvs, c.pvcs, c.classes, c.nodes = pvInf.Lister(), pvcInf.Lister(), scInf.Lister(), nodeInf.Lister()

	regs := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{pvInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.volumeChanged, UpdateFunc: func(_, o any) { c.volumeChanged(o) }, DeleteFunc: c.volumeChanged}},
		{pvcInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.claimChanged, UpdateFunc: func(_, o any) { c.claimChanged(o) }, DeleteFunc: c.claimDeleted}},
		{scInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { c.enqueuePendingClaims("") }, UpdateFunc: func(_, _ any) { c.enqueuePendingClaims("") }}},
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.nodeChanged, UpdateFunc: func(old, o any) { c.nodeUpdated(old, o) }, DeleteFunc: c.nodeDeleted}},
	}
	for _, r := range regs {
		reg, err := r.inf.AddEventHandler(r.h)
		if err != nil {
			return nil, fmt.Errorf("persistentvolume: registering a handler: %w", err)
		}
		c.synced = append(c.synced, reg.HasSynced)
	}
	return c, nil
}

func unwrap(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func claimKey(namespace, name string) string { return namespace + "/" + name }

func (c *Controller) volumeChanged(obj any) {
	pv, ok := unwrap(obj).(*corev1.PersistentVolume)
	if !ok {
		return
	}
	c.volumeQueue.Add(pv.Name)
	if ref := pv.Spec.ClaimRef; ref != nil {
		c.claimQueue.Add(claimKey(ref.Namespace, ref.Name))
	} else if pv.Status.Phase == corev1.VolumeAvailable && pv.DeletionTimestamp == nil {
		// A free volume may be what a waiting claim needs.
		c.enqueuePendingClaims("")
	}
}

func (c *Controller) claimChanged(obj any) {
	pvc, ok := unwrap(obj).(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	c.claimQueue.Add(claimKey(pvc.Namespace, pvc.Name))
	if pvc.Spec.VolumeName != "" {
		c.volumeQueue.Add(pvc.Spec.VolumeName)
	}
}

// claimDeleted wakes the volumes that pointed at the claim: they are released now.
func (c *Controller) claimDeleted(obj any) {
	pvc, ok := unwrap(obj).(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	if pvc.Spec.VolumeName != "" {
		c.volumeQueue.Add(pvc.Spec.VolumeName)
	}
	pvs, _ := c.pvs.List(labels.Everything())
	for _, pv := range pvs {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == pvc.Namespace && ref.Name == pvc.Name {
			c.volumeQueue.Add(pv.Name)
		}
	}
}

func (c *Controller) nodeChanged(obj any) {
	if n, ok := unwrap(obj).(*corev1.Node); ok && n.Annotations[localpath.RootAnnotation] != "" {
		c.enqueuePendingClaims("")
	}
}

// nodeUpdated reacts only to what provisioning looks at, not to every heartbeat.
func (c *Controller) nodeUpdated(oldObj, obj any) {
	old, ok1 := oldObj.(*corev1.Node)
	n, ok2 := obj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	if old.Annotations[localpath.RootAnnotation] != n.Annotations[localpath.RootAnnotation] ||
		nodeUsable(old) != nodeUsable(n) {
		c.nodeChanged(n)
	}
}

func (c *Controller) nodeDeleted(obj any) {
	n, ok := unwrap(obj).(*corev1.Node)
	if !ok {
		return
	}
	pvs, _ := c.pvs.List(labels.SelectorFromSet(labels.Set{localpath.NodeLabel: n.Name}))
	for _, pv := range pvs {
		c.volumeQueue.Add(pv.Name)
	}
}

// enqueuePendingClaims queues every claim not yet bound (of class, when not "").
func (c *Controller) enqueuePendingClaims(class string) {
	claims, _ := c.pvcs.List(labels.Everything())
	for _, pvc := range claims {
		if pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending {
			continue
		}
		if class != "" && (pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != class) {
			continue
		}
		c.claimQueue.Add(claimKey(pvc.Namespace, pvc.Name))
	}
}

func (c *Controller) resync() {
	claims, _ := c.pvcs.List(labels.Everything())
	for _, pvc := range claims {
		c.claimQueue.Add(claimKey(pvc.Namespace, pvc.Name))
	}
	pvs, _ := c.pvs.List(labels.Everything())
	for _, pv := range pvs {
		c.volumeQueue.Add(pv.Name)
	}
}

// Run binds, provisions and reclaims with workers goroutines per queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.claimQueue.ShutDown()
	defer c.volumeQueue.ShutDown()
	if workers < 1 {
		workers = 1
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) { c.work(ctx, c.claimQueue, c.syncClaim, "claim") }, time.Second)
		go wait.UntilWithContext(ctx, func(ctx context.Context) { c.work(ctx, c.volumeQueue, c.syncVolume, "volume") }, time.Second)
	}
	if c.cfg.Resync > 0 {
		go wait.Until(c.resync, c.cfg.Resync, ctx.Done())
	}
	<-ctx.Done()
}

func (c *Controller) work(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error, what string) {
	for {
		key, quit := q.Get()
		if quit {
			return
		}
		if err := sync(ctx, key); err != nil {
			c.log.Info("sync failed, retrying", what, key, "err", err)
			q.AddRateLimited(key)
		} else {
			q.Forget(key)
		}
		q.Done(key)
	}
}

// class returns the named StorageClass, nil when it does not exist.
func (c *Controller) class(name string) (*storagev1.StorageClass, error) {
	if name == "" {
		return nil, nil
	}
	sc, err := c.classes.Get(name)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return sc, nil
}
