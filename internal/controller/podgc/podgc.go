package podgc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
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
	"k8s.io/utils/clock"
)

// Upstream's defaults.
const (
	DefaultTerminatedPodThreshold = 12500
	DefaultPeriod                 = 20 * time.Second
	DefaultQuarantine             = 40 * time.Second
)

// ReasonDeletionByPodGC is the DisruptionTarget reason on pods of deleted nodes (upstream's).
const ReasonDeletionByPodGC = "DeletionByPodGC"

// deleteParallelism bounds concurrent deletes in one pass.
const deleteParallelism = 20

// Config is what the collector needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the pod and node informers.
	Informers informers.SharedInformerFactory
	Logger    *slog.Logger
	// TerminatedPodThreshold is how many Succeeded or Failed pods may exist before the oldest
	// are deleted; 0 means DefaultTerminatedPodThreshold, negative disables it.
	TerminatedPodThreshold int
	// Period between passes (default DefaultPeriod).
	Period time.Duration
	// Quarantine is how long a node must stay absent from the cache before its pods are
	// collected (default DefaultQuarantine): a node just created may not be cached yet.
	Quarantine time.Duration
	// Clock (default the real one).
	Clock clock.Clock
}

// Controller is the pod garbage collector.
type Controller struct {
	cfg        Config
	log        *slog.Logger
	pods       corelisters.PodLister
	nodes      corelisters.NodeLister
	synced     []cache.InformerSynced
	mu         sync.Mutex
	missingFor map[string]time.Time // node name -> when the cache was first seen without it
}

// New checks cfg, registers its informers and returns the collector.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("podgc: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("podgc: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TerminatedPodThreshold == 0 {
		cfg.TerminatedPodThreshold = DefaultTerminatedPodThreshold
	}
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Quarantine <= 0 {
		cfg.Quarantine = DefaultQuarantine
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	pi := cfg.Informers.Core().V1().Pods()
	ni := cfg.Informers.Core().V1().Nodes()
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "podgc"), pods: pi.Lister(), nodes: ni.Lister(),
		synced: []cache.InformerSynced{pi.Informer().HasSynced, ni.Informer().HasSynced}, missingFor: map[string]time.Time{}}
	return c, nil
}

// Run collects every period until ctx ends. workers is ignored: one pass at a time.
func (c *Controller) Run(ctx context.Context, _ int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := c.gc(ctx); err != nil {
			c.log.Info("pod garbage collection incomplete", "err", err)
		}
	}, c.cfg.Period)
}

// victim is one pod to force-delete and how to mark it first.
type victim struct {
	pod       *corev1.Pod
	condition *corev1.PodCondition // set with phase Failed on a pod not yet terminal
	why       string
}

// gc runs one pass.
func (c *Controller) gc(ctx context.Context) error {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	byName := make(map[string]*corev1.Node, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}
	var victims []victim
	victims = append(victims, c.terminated(pods)...)
	victims = append(victims, outOfService(pods, byName)...)
	orphans, err := c.orphaned(ctx, pods, byName)
	victims = append(victims, orphans...)
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Spec.NodeName == "" {
			victims = append(victims, victim{pod: p, why: "terminating and never scheduled"})
		}
	}
	return errors.Join(err, c.deleteAll(ctx, victims))
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// terminated picks the oldest finished pods beyond the threshold.
func (c *Controller) terminated(pods []*corev1.Pod) []victim {
	if c.cfg.TerminatedPodThreshold < 0 {
		return nil
	}
	var done []*corev1.Pod
	for _, p := range pods {
		if terminal(p) {
			done = append(done, p)
		}
	}
	excess := len(done) - c.cfg.TerminatedPodThreshold
	if excess <= 0 {
		return nil
	}
	sort.SliceStable(done, func(i, j int) bool {
		ti, tj := done[i].CreationTimestamp, done[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return done[i].Namespace+"/"+done[i].Name < done[j].Namespace+"/"+done[j].Name
	})
	out := make([]victim, 0, excess)
	for _, p := range done[:excess] {
		out = append(out, victim{pod: p, why: "terminated pods over the threshold"})
	}
	return out
}

// outOfService picks terminating pods on NotReady nodes tainted node.kubernetes.io/out-of-service:
// the administrator says the node is down for good, so its pods will never be confirmed gone.
func outOfService(pods []*corev1.Pod, nodes map[string]*corev1.Node) []victim {
	var out []victim
	for _, p := range pods {
		if p.DeletionTimestamp == nil || p.Spec.NodeName == "" {
			continue
		}
		n, ok := nodes[p.Spec.NodeName]
		if !ok || nodeReady(n) || !hasTaint(n, corev1.TaintNodeOutOfService) {
			continue
		}
		out = append(out, victim{pod: p, why: "terminating on an out-of-service node"})
	}
	return out
}

// orphaned picks pods of nodes that do not exist: absent from the cache for the quarantine, then
// confirmed absent by a live read.
func (c *Controller) orphaned(ctx context.Context, pods []*corev1.Pod, nodes map[string]*corev1.Node) ([]victim, error) {
	now := c.cfg.Clock.Now()
	missing := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.Spec.NodeName == "" {
			continue
		}
		if _, ok := nodes[p.Spec.NodeName]; !ok {
			missing[p.Spec.NodeName] = append(missing[p.Spec.NodeName], p)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.missingFor {
		if _, still := missing[name]; !still {
			delete(c.missingFor, name)
		}
	}
	var out []victim
	var errs []error
	names := make([]string, 0, len(missing))
	for name := range missing {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		since, seen := c.missingFor[name]
		if !seen {
			c.missingFor[name] = now
			continue
		}
		if now.Sub(since) < c.cfg.Quarantine {
			continue
		}
		_, err := c.cfg.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			delete(c.missingFor, name) // the cache lagged: the node exists
			continue
		}
		if !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("checking node %s: %w", name, err))
			continue
		}
		for _, p := range missing[name] {
			out = append(out, victim{pod: p, why: "node no longer exists", condition: &corev1.PodCondition{
				Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: ReasonDeletionByPodGC,
				Message: "PodGC: node no longer exists"}})
		}
	}
	return out, errors.Join(errs...)
}

// deleteAll marks and force-deletes victims, a few at a time.
func (c *Controller) deleteAll(ctx context.Context, victims []victim) error {
	seen := map[types.UID]bool{}
	sem := make(chan struct{}, deleteParallelism)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, v := range victims {
		if seen[v.pod.UID] {
			continue
		}
		seen[v.pod.UID] = true
		sem <- struct{}{}
		wg.Add(1)
		go func(v victim) {
			defer func() { <-sem; wg.Done() }()
			if err := c.forceDelete(ctx, v); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(v)
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Controller) forceDelete(ctx context.Context, v victim) error {
	p := v.pod
	log := c.log.With("pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName)
	if !terminal(p) {
		if err := c.markFailed(ctx, p, v.condition); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("marking pod %s/%s failed: %w", p.Namespace, p.Name, err)
		}
	}
	uid := p.UID
	err := c.cfg.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &uid}})
	switch {
	case err == nil:
		log.Info("pod force-deleted", "reason", v.why)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil // gone already, or another pod of that name
	}
	return fmt.Errorf("deleting pod %s/%s: %w", p.Namespace, p.Name, err)
}

// markFailed sets phase Failed (and cond) with a strategic merge patch, which merges conditions
// by type and so keeps whatever else the pod's status says.
func (c *Controller) markFailed(ctx context.Context, p *corev1.Pod, cond *corev1.PodCondition) error {
	st := map[string]any{"phase": corev1.PodFailed}
	if cond != nil {
		cc := cond.DeepCopy()
		cc.LastTransitionTime = metav1.NewTime(c.cfg.Clock.Now())
		st["conditions"] = []*corev1.PodCondition{cc}
	}
	patch, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		return err
	}
	_, err = c.cfg.Client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
