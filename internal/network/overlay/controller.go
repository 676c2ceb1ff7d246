package overlay

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// resyncInterval repairs what someone else changed on the device (an `ip route del` by hand)
// even when no Node changes.
const resyncInterval = time.Minute

// retryInterval is how soon a failed sync or annotation write is tried again.
const retryInterval = 2 * time.Second

// Run publishes this node's annotations and keeps the peers in step with the Nodes the informer
// sees, until ctx ends. Setup must have run. Node events only wake the loop, so a burst of status
// updates costs one sync. The informer must be started by the caller.
func (o *Overlay) Run(ctx context.Context, client kubernetes.Interface, nodes cache.SharedIndexInformer) error {
	wake := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	reg, err := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    poke,
		UpdateFunc: func(old, cur any) { o.nodeUpdated(old, cur, poke) },
		DeleteFunc: poke,
	})
	if err != nil {
		return fmt.Errorf("overlay: watching nodes: %w", err)
	}
	defer nodes.RemoveEventHandler(reg)
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return nil
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C:
		}
		next := resyncInterval
		if err := o.syncOnce(ctx, client, nodes.GetIndexer()); err != nil {
			o.log.Warn("overlay sync failed; retrying", "err", err)
			next = retryInterval
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// nodeUpdated wakes the loop only for changes the overlay cares about: every node writes its
// status every 10 s, which must not cost each node a sync.
func (o *Overlay) nodeUpdated(old, cur any, poke func(any)) {
	a, ok1 := old.(*corev1.Node)
	b, ok2 := cur.(*corev1.Node)
	if ok1 && ok2 && a.Spec.PodCIDR == b.Spec.PodCIDR && len(a.Spec.PodCIDRs) == len(b.Spec.PodCIDRs) &&
		a.Annotations[AnnotationMAC] == b.Annotations[AnnotationMAC] &&
		a.Annotations[AnnotationPublicIP] == b.Annotations[AnnotationPublicIP] {
		return
	}
	poke(cur)
}

func (o *Overlay) syncOnce(ctx context.Context, client kubernetes.Interface, store cache.Indexer) error {
	var nodes []*corev1.Node
	for _, obj := range store.List() {
		if n, ok := obj.(*corev1.Node); ok {
			nodes = append(nodes, n)
		}
	}
	if err := o.publish(ctx, client, store); err != nil {
		return err
	}
	o.mu.Lock()
	self := o.podCIDR
	o.mu.Unlock()
	peers, skipped := Peers(o.cfg.NodeName, self, o.nodeIP, nodes)
	for _, s := range skipped {
		o.log.Debug("node left out of the overlay", "peer", s.Node, "reason", s.Reason)
	}
	return o.Sync(peers)
}

// publish writes this node's annotations when the Node lacks them or has others.
func (o *Overlay) publish(ctx context.Context, client kubernetes.Interface, store cache.Indexer) error {
	obj, ok, err := store.GetByKey(o.cfg.NodeName)
	if err != nil || !ok {
		return fmt.Errorf("overlay: node %s not in the cache yet", o.cfg.NodeName)
	}
	n := obj.(*corev1.Node)
	want := o.Annotations()
	stale := false
	for k, v := range want {
		if n.Annotations[k] != v {
			stale = true
		}
	}
	if !stale {
		return nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": want}})
	if err != nil {
		return err
	}
	_, err = client.CoreV1().Nodes().Patch(ctx, o.cfg.NodeName, types.MergePatchType, body, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("overlay: publishing the node's VXLAN end: %w", err)
	}
	o.log.Info("published the node's VXLAN end", "mac", want[AnnotationMAC], "publicIP", want[AnnotationPublicIP])
	return nil
}
