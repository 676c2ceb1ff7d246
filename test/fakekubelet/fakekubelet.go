package fakekubelet

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/util/retry"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// Options of a fake node.
type Options struct {
	// Node is the Node's name (default "fake-node").
	Node string
	// Namespace limits the pods handled (empty: all).
	Namespace string
	// Ready decides whether a pod becomes Ready (nil: all do). A pod that does not is left
	// Running and not ready, as a failing readiness probe would.
	Ready func(*corev1.Pod) bool
	// Workers sending writes (default 8).
	Workers int
}

// Start registers the Node and handles pods until ctx ends.
func Start(ctx context.Context, client kubernetes.Interface, o Options) error {
	if o.Node == "" {
		o.Node = "fake-node"
	}
	if o.Workers == 0 {
		o.Workers = 8
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: o.Node, Labels: map[string]string{"kubernetes.io/hostname": o.Node}}}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The node lifecycle controller taints a new Node at once, so the status write may race it.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, o.Node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		n.Status = corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10000"), corev1.ResourceCPU: resource.MustParse("1000")},
			Allocatable: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10000"), corev1.ResourceCPU: resource.MustParse("1000")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: now, LastTransitionTime: now}},
		}
		_, err = client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return err
	}
	fac := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(o.Namespace))
	work := make(chan *corev1.Pod, 10000)
	handle := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			select {
			case work <- p:
			case <-ctx.Done():
			}
		}
	}
	if _, err := fac.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: handle, UpdateFunc: func(_, cur any) { handle(cur) },
	}); err != nil {
		return err
	}
	fac.Start(ctx.Done())
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case p := <-work:
					act(ctx, client, o, p)
				}
			}
		})
	}
	go func() { <-ctx.Done(); fac.Shutdown(); wg.Wait() }()
	return nil
}

func act(ctx context.Context, client kubernetes.Interface, o Options, p *corev1.Pod) {
	pods := client.CoreV1().Pods(p.Namespace)
	switch {
	case p.DeletionTimestamp != nil:
		if p.Spec.NodeName == o.Node {
			_ = pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0),
				Preconditions: &metav1.Preconditions{UID: &p.UID}})
		}
	case p.Spec.NodeName == "":
		_ = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: o.Node}}, metav1.CreateOptions{})
	case p.Spec.NodeName == o.Node && p.Status.Phase != corev1.PodRunning:
		ready := o.Ready == nil || o.Ready(p)
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		now := metav1.NewTime(time.Now())
		cp := p.DeepCopy()
		cp.Status.Phase = corev1.PodRunning
		cp.Status.StartTime = &now
		cp.Status.HostIP = "192.0.2.1"
		cp.Status.PodIP = fmt.Sprintf("198.51.100.%d", len(p.Name)%250+1)
		cp.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: st, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: st, LastTransitionTime: now},
		}
		for _, c := range p.Spec.Containers {
			cp.Status.ContainerStatuses = append(cp.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
				Ready: ready, Started: ptr.To(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}})
		}
		_, _ = pods.UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	}
}
