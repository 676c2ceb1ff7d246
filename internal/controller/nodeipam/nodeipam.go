package nodeipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Defaults, as upstream's kube-controller-manager and kubeadm's usual pod network.
const (
	DefaultClusterCIDR      = "10.244.0.0/16"
	DefaultNodeCIDRMaskSize = 24
)

// ReasonCIDRNotAvailable is the event reason on a Node that found the cluster CIDR full
// (upstream's).
const ReasonCIDRNotAvailable = "CIDRNotAvailable"

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the node informer.
	Informers informers.SharedInformerFactory
	// ClusterCIDR is the range pod CIDRs are cut from (default DefaultClusterCIDR). One range, of
	// one family.
	ClusterCIDR string
	// NodeCIDRMaskSize is the prefix length of each Node's range (default DefaultNodeCIDRMaskSize
	// for IPv4, 64 for IPv6).
	NodeCIDRMaskSize int
	Recorder         record.EventRecorder
	Logger           *slog.Logger
}

// Controller allocates pod CIDRs to Nodes.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	nodes  corelisters.NodeLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]

	mu  sync.Mutex
	set *cidrSet
	// owned is the range each Node holds, whether this controller gave it or found it set; only
	// ranges inside the cluster CIDR are tracked.
	owned map[string]netip.Prefix
	// waiting are Nodes that found the range full; a release wakes them.
	waiting map[string]bool
	// outside remembers Nodes already reported as holding a range outside the cluster CIDR.
	outside map[string]netip.Prefix
}

// New checks cfg, registers its informer and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("nodeipam: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("nodeipam: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClusterCIDR == "" {
		cfg.ClusterCIDR = DefaultClusterCIDR
	}
	if strings.Contains(cfg.ClusterCIDR, ",") {
		return nil, fmt.Errorf("nodeipam: cluster CIDR %q: only one range is supported", cfg.ClusterCIDR)
	}
	cluster, err := netip.ParsePrefix(strings.TrimSpace(cfg.ClusterCIDR))
	if err != nil {
		return nil, fmt.Errorf("nodeipam: cluster CIDR: %w", err)
	}
	if cfg.NodeCIDRMaskSize == 0 {
		cfg.NodeCIDRMaskSize = DefaultNodeCIDRMaskSize
		if cluster.Addr().Is6() {
			cfg.NodeCIDRMaskSize = 64
		}
	}
	set, err := newCIDRSet(cluster, cfg.NodeCIDRMaskSize)
	if err != nil {
		return nil, fmt.Errorf("nodeipam: %w", err)
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "nodeipam"), set: set,
		owned: map[string]netip.Prefix{}, waiting: map[string]bool{}, outside: map[string]netip.Prefix{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam"})}
	inf := cfg.Informers.Core().V1().Nodes()
	c.nodes = inf.Lister()
	reg, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Node)
			n, ok2 := cur.(*corev1.Node)
			if ok1 && ok2 && o.Spec.PodCIDR == n.Spec.PodCIDR && n.Spec.PodCIDR != "" {
				return // status updates every 10 s per node: nothing for us
			}
			c.enqueue(cur)
		},
		DeleteFunc: c.enqueue,
	})
	if err != nil {
		return nil, fmt.Errorf("nodeipam: watching nodes: %w", err)
	}
	c.synced = []cache.InformerSynced{reg.HasSynced}
	return c, nil
}

func (c *Controller) enqueue(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if n, ok := obj.(*corev1.Node); ok {
		c.queue.Add(n.Name)
	}
}

// Run rebuilds the taken ranges from the cache, then allocates with workers goroutines until ctx
// ends. Nothing is handed out before the rebuild: that is what keeps a restart from giving a
// range twice.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if workers < 1 {
		workers = 1
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	if err := c.rebuild(); err != nil {
		c.log.Error("reading the nodes' pod CIDRs failed; not allocating", "err", err)
		return
	}
	for range workers {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
}

// rebuild marks every range a Node holds as taken.
func (c *Controller) rebuild() error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range nodes {
		if p, ok := nodeCIDR(n); ok {
			c.adopt(n.Name, p)
		}
	}
	c.log.Info("pod CIDRs in use", "clusterCIDR", c.set.cluster.String(), "taken", len(c.set.used)-c.set.free, "free", c.set.free)
	return nil
}

func (c *Controller) worker(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		if err := c.sync(ctx, key); err != nil {
			c.log.Info("allocating a pod CIDR failed, retrying", "node", key, "err", err)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// nodeCIDR is the Node's pod CIDR of this controller's family, if it has one that parses.
func nodeCIDR(n *corev1.Node) (netip.Prefix, bool) {
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, s := range cidrs {
		if p, err := netip.ParsePrefix(s); err == nil {
			return p.Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// sync gives the Node a range if it has none, records the one it has, or frees the range of a
// Node that is gone.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		c.forget(name)
		delete(c.waiting, name)
		delete(c.outside, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	if p, ok := nodeCIDR(node); ok {
		c.mu.Lock()
		c.adopt(name, p)
		c.mu.Unlock()
		return nil
	}
	if node.Spec.PodCIDR != "" || len(node.Spec.PodCIDRs) > 0 {
		return nil // a value the API server let through but we cannot read; not ours to fix
	}
	c.mu.Lock()
	cidr, held := c.owned[name]
	if !held {
		cidr, err = c.set.allocate()
		if errors.Is(err, errFull) {
			first := !c.waiting[name]
			c.waiting[name] = true
			c.mu.Unlock()
			if first {
				c.log.Warn("no pod CIDR left for the node", "node", name, "clusterCIDR", c.set.cluster.String())
				c.event(node, corev1.EventTypeWarning, ReasonCIDRNotAvailable, fmt.Sprintf("Node %s status is now: %s", name, ReasonCIDRNotAvailable))
			}
			return nil
		}
		c.owned[name] = cidr
	}
	delete(c.waiting, name)
	c.mu.Unlock()

	if err := c.patch(ctx, node, cidr); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			// Gone, or someone else set a range first: ours goes back, and the retry reads
			// whatever the Node holds now.
			c.mu.Lock()
			c.forget(name)
			c.mu.Unlock()
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		c.event(node, corev1.EventTypeWarning, "CIDRAssignmentFailed", fmt.Sprintf("Node %s: assigning pod CIDR %s failed: %v", name, cidr, err))
		return fmt.Errorf("setting pod CIDR %s: %w", cidr, err)
	}
	c.log.Info("pod CIDR allocated", "node", name, "podCIDR", cidr.String())
	return nil
}

// patch sets the range on the Node, guarded by its resourceVersion so that a range set by the
// node agent in between makes it fail rather than be overwritten (the API server refuses the
// change anyway).
func (c *Controller) patch(ctx context.Context, node *corev1.Node, cidr netip.Prefix) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": node.ResourceVersion},
		"spec":     map[string]any{"podCIDR": cidr.String(), "podCIDRs": []string{cidr.String()}},
	})
	if err != nil {
		return err
	}
	_, err = c.cfg.Client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, body, metav1.PatchOptions{})
	if apierrors.IsConflict(err) {
		return fmt.Errorf("node changed meanwhile: %w", err)
	}
	return err
}

// adopt records p as the Node's range. Call with mu held.
func (c *Controller) adopt(name string, p netip.Prefix) {
	if old, ok := c.owned[name]; ok {
		if old == p {
			return
		}
		c.forget(name)
	}
	delete(c.waiting, name)
	if !c.set.occupy(p) {
		if c.outside[name] != p {
			c.outside[name] = p
			c.log.Info("node's pod CIDR lies outside the cluster CIDR; left as it is", "node", name, "podCIDR", p.String(), "clusterCIDR", c.set.cluster.String())
		}
		return
	}
	c.owned[name] = p
}

// forget frees the Node's range unless another Node claims an overlapping one (two agents
// started with the same --pod-cidr), and wakes the Nodes waiting for a range. Call with mu held.
func (c *Controller) forget(name string) {
	p, ok := c.owned[name]
	if !ok {
		return
	}
	delete(c.owned, name)
	for other, q := range c.owned {
		if q.Overlaps(p) {
			c.log.Warn("pod CIDR shared by two nodes; kept", "node", name, "other", other, "podCIDR", p.String())
			return
		}
	}
	c.set.release(p)
	c.log.Info("pod CIDR released", "node", name, "podCIDR", p.String())
	for w := range c.waiting {
		c.queue.Add(w)
	}
}

func (c *Controller) event(node *corev1.Node, eventType, reason, msg string) {
	if c.cfg.Recorder == nil {
		return
	}
	// Events about Nodes name the Node by its name as UID, as upstream's controllers do, so that
	// `kubectl describe node` finds them.
	ref := &corev1.ObjectReference{Kind: "Node", Name: node.Name, UID: types.UID(node.Name)}
	c.cfg.Recorder.Event(ref, eventType, reason, msg)
}
