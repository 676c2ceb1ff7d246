package fakenodes

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"k8s.io/client-go/util/retry"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Options of a set of fake nodes.
type Options struct {
	// Nodes are the names of the Nodes to register and serve (default one, "fake-node").
	Nodes []string
	// Namespaces whose unpinned pods are bound to the nodes round robin (empty: every namespace).
	// Pods pinned to one node by required affinity are bound there whatever their namespace.
	Namespaces []string
	// Ready decides whether a bound pod becomes Ready; a pod it refuses stays Running and not
	// ready, as with a failing readiness probe, until Resync finds it willing (nil: all are).
	Ready func(*corev1.Pod) bool
	// Workers sending writes (default 4).
	Workers int
}

// Nodes is a running set of fake nodes.
type Nodes struct {
	client kubernetes.Interface
	o      Options
	pods   corelisters.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]
	mu     sync.Mutex
	next   int
	ips    uint32 // pod addresses handed out
}

// Start registers the Nodes and serves their pods until ctx ends.
func Start(ctx context.Context, client kubernetes.Interface, o Options) (*Nodes, error) {
	if len(o.Nodes) == 0 {
		o.Nodes = []string{"fake-node"}
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	for _, name := range o.Nodes {
		if err := Register(ctx, client, name); err != nil {
			return nil, err
		}
	}
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().Pods()
	n := &Nodes{client: client, o: o, pods: inf.Lister(),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
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
	go func() { <-ctx.Done(); n.queue.ShutDown() }()
	return n, nil
}

// Register creates (or refreshes) a Ready Node with room for many pods.
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
		cur.Status.Capacity = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1000"), corev1.ResourceCPU: resource.MustParse("100"), corev1.ResourceMemory: resource.MustParse("100Gi")}
		cur.Status.Allocatable = cur.Status.Capacity
		cur.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: now, LastTransitionTime: now}}
		_, err = client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// Resync looks at every pod again (after Ready changed its mind).
func (n *Nodes) Resync() {
	pods, err := n.pods.List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		n.queue.Add(p.Namespace + "/" + p.Name)
	}
}

func (n *Nodes) ours(node string) bool { return slices.Contains(n.o.Nodes, node) }

func (n *Nodes) handle(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	p, err := n.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pods := n.client.CoreV1().Pods(ns)
	switch {
	case p.DeletionTimestamp != nil:
		if p.Spec.NodeName != "" && !n.ours(p.Spec.NodeName) {
			return nil
		}
		err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case p.Spec.NodeName == "":
		node := pinned(p)
		if node == "" && (len(n.o.Namespaces) == 0 || slices.Contains(n.o.Namespaces, p.Namespace)) {
			n.mu.Lock()
			node = n.o.Nodes[n.next%len(n.o.Nodes)]
			n.next++
			n.mu.Unlock()
		}
		// Like the default scheduler, it leaves pods meant for another scheduler alone.
		if node == "" || !n.ours(node) || (p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName) {
			return nil
		}
		err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case !n.ours(p.Spec.NodeName) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		return nil
	}
	ready := n.o.Ready == nil || n.o.Ready(p)
	if p.Status.Phase == corev1.PodRunning && isReady(p) == ready {
		return nil
	}
	c := p.DeepCopy()
	now := metav1.Now()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	c.Status.Phase = corev1.PodRunning
	if c.Status.PodIP == "" {
		// Each pod gets an address of its own, as a node agent's IPAM would, so that
		// endpoints controllers have something to list.
		n.mu.Lock()
		n.ips++
		k := n.ips
		n.mu.Unlock()
		ip := fmt.Sprintf("10.%d.%d.%d", 244+k>>16, (k>>8)&0xff, k&0xff)
		c.Status.PodIP, c.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		c.Status.HostIP = "192.0.2.1"
	}
	if c.Status.StartTime == nil {
		c.Status.StartTime = &now
	}
	c.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: status, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: status, LastTransitionTime: now},
	}
	c.Status.ContainerStatuses = nil
	for _, ctr := range c.Spec.Containers {
		c.Status.ContainerStatuses = append(c.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ctr.Name, Image: ctr.Image, Ready: ready, Started: &ready,
			ContainerID: fmt.Sprintf("fake://%s-%s", c.UID, ctr.Name),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err = pods.UpdateStatus(ctx, c, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
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
