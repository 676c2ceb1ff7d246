package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// Upstream's defaults (kube-controller-manager flags of the same meaning).
const (
	DefaultGracePeriod            = 40 * time.Second // --node-monitor-grace-period
	DefaultStartupGracePeriod     = 60 * time.Second // --node-startup-grace-period
	DefaultMonitorPeriod          = 5 * time.Second  // --node-monitor-period
	DefaultEvictionRate           = 0.1              // nodes/s per zone, --node-eviction-rate
	DefaultSecondaryEvictionRate  = 0.01             // --secondary-node-eviction-rate
	DefaultLargeClusterThreshold  = 50               // --large-cluster-size-threshold
	DefaultUnhealthyZoneThreshold = 0.55             // --unhealthy-zone-threshold
)

// LeaseNamespace holds the node agents' heartbeat Leases.
const LeaseNamespace = corev1.NamespaceNodeLease

// Event reasons and condition reasons, upstream's.
const (
	ReasonNodeStatusUnknown      = "NodeStatusUnknown"
	ReasonNodeStatusNeverUpdated = "NodeStatusNeverUpdated"
	ReasonNodeNotReady           = "NodeNotReady"
	ReasonTaintManagerEviction   = "TaintManagerEviction"
	ReasonDeletionByTaintManager = "DeletionByTaintManager"

	messageStoppedPosting = "Kubelet stopped posting node status."
	messageNeverPosted    = "Kubelet never posted node status."
)

// EventRecorder is the part of client-go's record.EventRecorder the controller uses.
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{})
}

// Config is what the controller needs. Zero durations and rates take upstream's defaults.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the node, pod and lease informers.
	Informers informers.SharedInformerFactory
	// Recorder records node and pod events; nil records none.
	Recorder EventRecorder
	Logger   *slog.Logger
	// Clock (default the real one). Passes of the monitor and eviction deadlines read it.
	Clock clock.Clock

	// GracePeriod is how long a node may go without a heartbeat before it is Unknown.
	GracePeriod time.Duration
	// StartupGracePeriod is the same for a node that never posted a Ready condition, from its
	// creation.
	StartupGracePeriod time.Duration
	// MonitorPeriod is the pace of health checks.
	MonitorPeriod time.Duration
	// EvictionRate is how many nodes per second of one zone may get a NoExecute taint while the
	// zone is healthy; SecondaryEvictionRate while it is partially disrupted and larger than
	// LargeClusterThreshold nodes (smaller ones then get none).
	EvictionRate, SecondaryEvictionRate float64
	LargeClusterThreshold               int
	// UnhealthyZoneThreshold is the share of not-Ready nodes (of more than two) that makes a
	// zone partially disrupted.
	UnhealthyZoneThreshold float64
}

// Controller is the node lifecycle controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	nodes  corelisters.NodeLister
	pods   corelisters.PodLister
	podIdx cache.Indexer
	leases coordlisters.LeaseLister
	synced []cache.InformerSynced

	// nodeQueue holds nodes whose NoSchedule taints may be stale; podQueue pods that may have
	// to be evicted.
	nodeQueue workqueue.TypedRateLimitingInterface[string]
	podQueue  workqueue.TypedRateLimitingInterface[string]

	mu         sync.Mutex
	health     map[string]*health // by node name; the monitor's memory of heartbeats
	zones      map[string]*zone
	disrupted  bool                 // every zone fully disrupted: no NoExecute taints at all
	scheduled  map[string]time.Time // pod key -> eviction deadline, for the cancel event
	firstTaint map[string]time.Time // node -> first seen with a NoExecute taint lacking timeAdded
}

// zone is one failure domain's eviction pace.
type zone struct {
	state   zoneState
	limiter flowcontrol.PassiveRateLimiter
	qps     float64
}

const nodeNameIndex = "nodelifecycle/spec.nodeName"

// New checks cfg, registers its informers and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("nodelifecycle: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("nodelifecycle: Config.Informers is required")
	case cfg.EvictionRate < 0 || cfg.SecondaryEvictionRate < 0:
		return nil, errors.New("nodelifecycle: eviction rates must not be negative")
	case cfg.UnhealthyZoneThreshold < 0 || cfg.UnhealthyZoneThreshold > 1:
		return nil, errors.New("nodelifecycle: UnhealthyZoneThreshold must be within [0, 1]")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.GracePeriod, DefaultGracePeriod)
	def(&cfg.StartupGracePeriod, DefaultStartupGracePeriod)
	def(&cfg.MonitorPeriod, DefaultMonitorPeriod)
	if cfg.EvictionRate == 0 {
		cfg.EvictionRate = DefaultEvictionRate
	}
	if cfg.SecondaryEvictionRate == 0 {
		cfg.SecondaryEvictionRate = DefaultSecondaryEvictionRate
	}
	if cfg.LargeClusterThreshold <= 0 {
		cfg.LargeClusterThreshold = DefaultLargeClusterThreshold
	}
	if cfg.UnhealthyZoneThreshold == 0 {
		cfg.UnhealthyZoneThreshold = DefaultUnhealthyZoneThreshold
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "nodelifecycle"),
		nodeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "node-taints"}),
		podQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "taint-eviction"}),
		health: map[string]*health{}, zones: map[string]*zone{}, scheduled: map[string]time.Time{}, firstTaint: map[string]time.Time{}}

	ni := cfg.Informers.Core().V1().Nodes()
	pi := cfg.Informers.Core().V1().Pods()
	li := cfg.Informers.Coordination().V1().Leases()
	c.nodes, c.pods, c.leases = ni.Lister(), pi.Lister(), li.Lister()
	if err := pi.Informer().AddIndexers(cache.Indexers{nodeNameIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("nodelifecycle: indexing pods by node: %w", err)
	}
	c.podIdx = pi.Informer().GetIndexer()
	nreg, err := ni.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.nodeChanged(nil, obj) },
		UpdateFunc: c.nodeChanged,
		DeleteFunc: c.nodeDeleted,
	})
	if err != nil {
		return nil, fmt.Errorf("nodelifecycle: watching nodes: %w", err)
	}
	preg, err := pi.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, obj any) { c.podChanged(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("nodelifecycle: watching pods: %w", err)
	}
	lreg, err := li.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{})
	if err != nil {
		return nil, fmt.Errorf("nodelifecycle: watching leases: %w", err)
	}
	c.synced = []cache.InformerSynced{nreg.HasSynced, preg.HasSynced, lreg.HasSynced}
	return c, nil
}

func (c *Controller) nodeChanged(oldObj, obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	c.nodeQueue.Add(n.Name)
	var old *corev1.Node
	if oldObj != nil {
		old, _ = oldObj.(*corev1.Node)
	}
	if old == nil || !taintsEqual(noExecuteTaints(old), noExecuteTaints(n)) {
		c.enqueuePodsOn(n.Name)
	}
}

func (c *Controller) nodeDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	c.mu.Lock()
	delete(c.health, n.Name)
	delete(c.firstTaint, n.Name)
	c.mu.Unlock()
	c.enqueuePodsOn(n.Name) // their evictions are cancelled: pod GC takes over
}

func (c *Controller) enqueuePodsOn(node string) {
	objs, err := c.podIdx.ByIndex(nodeNameIndex, node)
	if err != nil {
		return
	}
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			c.podQueue.Add(p.Namespace + "/" + p.Name)
		}
	}
}

func (c *Controller) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
		return
	}
	key := p.Namespace + "/" + p.Name
	c.mu.Lock()
	_, scheduled := c.scheduled[key]
	c.mu.Unlock()
	if n, err := c.nodes.Get(p.Spec.NodeName); (err == nil && len(noExecuteTaints(n)) > 0) || scheduled {
		c.podQueue.Add(key)
	}
}

// Run monitors node health every MonitorPeriod and runs workers for taints and evictions until
// ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.nodeQueue.ShutDown()
	defer c.podQueue.ShutDown()
	if workers < 1 {
		workers = 1
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := c.monitor(ctx); err != nil {
			c.log.Info("node health pass incomplete", "err", err)
		}
	}, c.cfg.MonitorPeriod)
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.nodeWorker, time.Second)
		go wait.UntilWithContext(ctx, c.podWorker, time.Second)
	}
	<-ctx.Done()
}

func (c *Controller) nodeWorker(ctx context.Context) {
	for {
		name, quit := c.nodeQueue.Get()
		if quit {
			return
		}
		if err := c.syncNoSchedule(ctx, name); err != nil {
			c.log.Info("updating NoSchedule taints failed, retrying", "node", name, "err", err)
			c.nodeQueue.AddRateLimited(name)
		} else {
			c.nodeQueue.Forget(name)
		}
		c.nodeQueue.Done(name)
	}
}

func (c *Controller) podWorker(ctx context.Context) {
	for {
		key, quit := c.podQueue.Get()
		if quit {
			return
		}
		after, err := c.syncPod(ctx, key)
		switch {
		case err != nil:
			c.log.Info("taint eviction failed, retrying", "pod", key, "err", err)
			c.podQueue.AddRateLimited(key)
		case after > 0:
			c.podQueue.Forget(key)
			c.podQueue.AddAfter(key, after)
		default:
			c.podQueue.Forget(key)
		}
		c.podQueue.Done(key)
	}
}

func (c *Controller) event(obj runtime.Object, typ, reason, format string, args ...any) {
	if c.cfg.Recorder != nil {
		c.cfg.Recorder.Eventf(obj, typ, reason, format, args...)
	}
}
