package fakenodes

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

// LeaseDuration is the duration the fake nodes write in their Leases, as a kubelet does by default.
const LeaseDuration = 40 * time.Second

// Options of a set of fake nodes.
type Options struct {
	// Nodes are the names of the Nodes to register and serve (default one, "fake-node").
	Nodes []string
	// Namespaces whose pods are served (empty: every namespace). With exactly one, the fake
	// watches only that namespace, which keeps many instances cheap.
	Namespaces []string
	// Outcome decides what becomes of a bound pod (nil: Running and Ready). It is asked again
	// whenever the pod changes and on Resync, so a test can change its mind.
	Outcome func(*corev1.Pod) Outcome
	// Terminating is how long a pod being deleted takes to stop before the fake node removes it
	// (default 0: at once).
	Terminating time.Duration
	// LeaseRenew is the interval between Lease renewals (default 10 s, a kubelet's).
	LeaseRenew time.Duration
	// Workers sending writes (default 4).
	Workers int
}

// Outcome is what a fake node makes of a pod bound to it. The zero Outcome is Running and Ready.
type Outcome struct {
	// Exited ends the pod: Succeeded with ExitCode 0, Failed with any other.
	Exited   bool
	ExitCode int32
	// NotReady keeps a running pod not ready, as a failing readiness probe would.
	NotReady bool
}

// Nodes is a running set of fake nodes.
type Nodes struct {
	client kubernetes.Interface
	o      Options
	pods   corelisters.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]

	mu          sync.Mutex
	next        int
	halted      map[string]bool
	terminating map[types.UID]time.Time
}

// Start registers the Nodes and their Leases and serves their pods until ctx ends.
func Start(ctx context.Context, client kubernetes.Interface, o Options) (*Nodes, error) {
	if len(o.Nodes) == 0 {
		o.Nodes = []string{"fake-node"}
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.LeaseRenew == 0 {
		o.LeaseRenew = 10 * time.Second
	}
	for _, name := range o.Nodes {
		if err := Register(ctx, client, name); err != nil {
			return nil, err
		}
		if err := renewLease(ctx, client, name); err != nil {
			return nil, fmt.Errorf("lease of node %s: %w", name, err)
		}
	}
	var opts []informers.SharedInformerOption
	if len(o.Namespaces) == 1 {
		opts = append(opts, informers.WithNamespace(o.Namespaces[0]))
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, opts...)
	inf := f.Core().V1().Pods()
	n := &Nodes{client: client, o: o, pods: inf.Lister(),
		queue:  workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		halted: map[string]bool{}, terminating: map[types.UID]time.Time{}}
	add := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			n.queue.Add(key)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, o any) { add(o) }}); err != nil {
		return nil, err
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return nil, ctx.Err()
	}
	for range o.Workers {
		go func() {
			for {
				key, quit := n.queue.Get()
				if quit {
					return
				}
				if err := n.handle(ctx, key); err != nil && ctx.Err() == nil {
					n.queue.AddRateLimited(key)
				} else {
					n.queue.Forget(key)
				}
				n.queue.Done(key)
			}
		}()
	}
	go n.renewLeases(ctx)
	go func() { <-ctx.Done(); n.queue.ShutDown(); f.Shutdown() }()
	return n, nil
}

// Register creates (or refreshes) a Ready Node with room for many pods. It posts the Ready and
// MemoryPressure conditions only, never DiskPressure or PIDPressure. It writes no Lease: a Node
// registered by itself is served by no agent.
func Register(ctx context.Context, client kubernetes.Interface, name string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The node lifecycle controller taints a new Node at once, so the status write may race it.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		cur.Status.Capacity = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10000"), corev1.ResourceCPU: resource.MustParse("1000"), corev1.ResourceMemory: resource.MustParse("1000Gi")}
		cur.Status.Allocatable = cur.Status.Capacity
		cur.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
		}
		_, err = client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// renewLease writes a fresh renewTime into the node's Lease, creating the Lease (owned by its
// Node, as a kubelet's is) when there is none. A deleted Node gets no new Lease.
func renewLease(ctx context.Context, client kubernetes.Interface, name string) error {
	leases := client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		l.Spec.RenewTime = &now
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		return err
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	holder, secs := name, int32(LeaseDuration/time.Second)
	l = &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: node.UID}}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &now},
	}
	_, err = leases.Create(ctx, l, metav1.CreateOptions{})
	return err
}

func (n *Nodes) renewLeases(ctx context.Context) {
	tick := time.NewTicker(n.o.LeaseRenew)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, name := range n.o.Nodes {
			if !n.isHalted(name) {
				// A failed renewal is retried at the next tick, as a kubelet's would be.
				_ = renewLease(ctx, n.client, name)
			}
		}
	}
}

// Halt makes a node's agent go silent, as if its host died: its Lease is no longer renewed,
// nothing is bound to it, and its pods' status and deletions are left as they are.
func (n *Nodes) Halt(name string) {
	n.mu.Lock()
	n.halted[name] = true
	n.mu.Unlock()
}

// Resume brings a halted node's agent back: it posts a Ready status again, renews its Lease,
// and looks at every pod again.
func (n *Nodes) Resume(ctx context.Context, name string) error {
	if err := Register(ctx, n.client, name); err != nil {
		return err
	}
	if err := renewLease(ctx, n.client, name); err != nil {
		return err
	}
	n.mu.Lock()
	delete(n.halted, name)
	n.mu.Unlock()
	n.Resync()
	return nil
}

func (n *Nodes) isHalted(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.halted[name]
}

// Resync looks at every pod again (after Outcome changed its mind).
func (n *Nodes) Resync() {
	pods, err := n.pods.List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		n.queue.Add(p.Namespace + "/" + p.Name)
	}
}

// serves says whether a live node of this set answers for node.
func (n *Nodes) serves(node string) bool {
	return slices.Contains(n.o.Nodes, node) && !n.isHalted(node)
}

func (n *Nodes) handle(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	if len(n.o.Namespaces) > 0 && !slices.Contains(n.o.Namespaces, ns) {
		return nil
	}
	p, err := n.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case p.DeletionTimestamp != nil:
		return n.finishDeletion(ctx, key, p)
	case p.Spec.NodeName == "":
		return n.bind(ctx, p)
	case !n.serves(p.Spec.NodeName) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		return nil
	}
	out := Outcome{}
	if n.o.Outcome != nil {
		out = n.o.Outcome(p)
	}
	if out.Exited {
		return n.updateStatus(ctx, exited(p, out.ExitCode))
	}
	if p.Status.Phase == corev1.PodRunning && isReady(p) == !out.NotReady {
		return nil
	}
	return n.updateStatus(ctx, running(p, !out.NotReady))
}

func (n *Nodes) finishDeletion(ctx context.Context, key string, p *corev1.Pod) error {
	if p.Spec.NodeName != "" && !n.serves(p.Spec.NodeName) {
		return nil
	}
	if n.o.Terminating > 0 && p.Spec.NodeName != "" {
		n.mu.Lock()
		since, ok := n.terminating[p.UID]
		if !ok {
			since = time.Now()
			n.terminating[p.UID] = since
		}
		n.mu.Unlock()
		if left := n.o.Terminating - time.Since(since); left > 0 {
			n.queue.AddAfter(key, left)
			return nil
		}
		n.mu.Lock()
		delete(n.terminating, p.UID)
		n.mu.Unlock()
	}
	err := n.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func (n *Nodes) bind(ctx context.Context, p *corev1.Pod) error {
	// Like the default scheduler, it leaves pods meant for another scheduler alone.
	if p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName {
		return nil
	}
	node := pinned(p)
	if node == "" {
		n.mu.Lock()
		for range n.o.Nodes {
			cand := n.o.Nodes[n.next%len(n.o.Nodes)]
			n.next++
			if !n.halted[cand] {
				node = cand
				break
			}
		}
		n.mu.Unlock()
	}
	if node == "" || !n.serves(node) {
		return nil
	}
	err := n.client.CoreV1().Pods(p.Namespace).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID},
		Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func (n *Nodes) updateStatus(ctx context.Context, p *corev1.Pod) error {
	_, err := n.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// podIPs counts the pod addresses handed out in this process.
var podIPs atomic.Uint32

// started fills what every pod a node has started carries: start time, addresses, the
// scheduled and initialized conditions, and the given readiness.
func started(p *corev1.Pod, phase corev1.PodPhase, ready bool, reason string) (*corev1.Pod, metav1.Time) {
	c := p.DeepCopy()
	now := metav1.Now()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	c.Status.Phase = phase
	if c.Status.StartTime == nil {
		c.Status.StartTime = &now
	}
	c.Status.HostIP = "192.0.2.1"
	if c.Status.PodIP == "" {
		// Each pod gets an address of its own, as a node agent's IPAM would, so that
		// endpoints controllers and DNS have something distinct to list.
		k := podIPs.Add(1)
		ip := fmt.Sprintf("10.%d.%d.%d", 244+k>>16, (k>>8)&0xff, k&0xff)
		c.Status.PodIP, c.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	}
	c.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: status, Reason: reason, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: status, Reason: reason, LastTransitionTime: now},
	}
	c.Status.ContainerStatuses = nil
	return c, now
}

func running(p *corev1.Pod, ready bool) *corev1.Pod {
	c, now := started(p, corev1.PodRunning, ready, "")
	for _, ctr := range c.Spec.Containers {
		c.Status.ContainerStatuses = append(c.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ctr.Name, Image: ctr.Image, Ready: ready, Started: &ready,
			ContainerID: fmt.Sprintf("fake://%s-%s", c.UID, ctr.Name),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	return c
}

func exited(p *corev1.Pod, code int32) *corev1.Pod {
	phase, reason := corev1.PodSucceeded, "Completed"
	if code != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	c, now := started(p, phase, false, "PodCompleted")
	startedAt := now
	if c.Status.StartTime != nil {
		startedAt = *c.Status.StartTime
	}
	no := false
	for _, ctr := range c.Spec.Containers {
		c.Status.ContainerStatuses = append(c.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ctr.Name, Image: ctr.Image, Started: &no,
			ContainerID: fmt.Sprintf("fake://%s-%s", c.UID, ctr.Name),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason,
				StartedAt: startedAt, FinishedAt: now}},
		})
	}
	return c
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// pinned is the node a pod's required node affinity names by metadata.name, if exactly one.
func pinned(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}
