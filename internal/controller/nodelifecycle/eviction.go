package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// forever is a toleration without tolerationSeconds.
const forever = time.Duration(math.MaxInt64)

// tolerationTime says how long pod tolerates taints: 0 when some taint is not tolerated at all,
// forever when every matching toleration has no tolerationSeconds, else the smallest
// tolerationSeconds of the tolerations used (upstream's rule; a negative value counts as 0).
func tolerationTime(pod *corev1.Pod, taints []corev1.Taint) time.Duration {
	min := forever
	for i := range taints {
		tolerated := false
		for j := range pod.Spec.Tolerations {
			tol := &pod.Spec.Tolerations[j]
			if !tol.ToleratesTaint(klog.Background(), &taints[i], true) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				continue
			}
			d := time.Duration(max(*tol.TolerationSeconds, 0)) * time.Second
			if d < min {
				min = d
			}
		}
		if !tolerated {
			return 0
		}
	}
	return min
}

// evictionStart is when the pod's toleration clock started: when the node's earliest NoExecute
// taint was added (so a restarted controller, or a new leader, keeps the pace; upstream restarts
// the clock), or when the pod was created if later.
func (c *Controller) evictionStart(pod *corev1.Pod, node *corev1.Node, taints []corev1.Taint) time.Time {
	var start time.Time
	for _, t := range taints {
		var at time.Time
		if t.TimeAdded != nil {
			at = t.TimeAdded.Time
			if at.Nanosecond() == 0 {
				// Stored in whole seconds: count from the end of that second, so that no pod
				// goes before its tolerationSeconds.
				at = at.Add(time.Second)
			}
		} else {
			c.mu.Lock()
			seen, ok := c.firstTaint[node.Name]
			if !ok {
				seen = c.cfg.Clock.Now()
				c.firstTaint[node.Name] = seen
			}
			c.mu.Unlock()
			at = seen
		}
		if start.IsZero() || at.Before(start) {
			start = at
		}
	}
	if pod.CreationTimestamp.After(start) {
		start = pod.CreationTimestamp.Time
	}
	return start
}

// syncPod evicts one pod from a NoExecute-tainted node when its tolerations run out. It returns
// how long until it should look again (0: not before something changes).
func (c *Controller) syncPod(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.unschedule(key, nil)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if pod.DeletionTimestamp != nil || pod.Spec.NodeName == "" {
		c.unschedule(key, nil)
		return 0, nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		c.unschedule(key, pod) // pod GC collects pods of deleted nodes
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	taints := noExecuteTaints(node)
	if len(taints) == 0 {
		c.unschedule(key, pod)
		return 0, nil
	}
	d := tolerationTime(pod, taints)
	if d == forever {
		c.unschedule(key, pod)
		return 0, nil
	}
	now := c.cfg.Clock.Now()
	deadline := now
	if d > 0 {
		deadline = c.evictionStart(pod, node, taints).Add(d)
	}
	if now.Before(deadline) {
		c.mu.Lock()
		c.scheduled[key] = deadline
		c.mu.Unlock()
		return deadline.Sub(now), nil
	}
	return 0, c.evict(ctx, key, pod, node)
}

// unschedule forgets a planned eviction, telling the pod's events when one was planned.
func (c *Controller) unschedule(key string, pod *corev1.Pod) {
	c.mu.Lock()
	_, was := c.scheduled[key]
	delete(c.scheduled, key)
	c.mu.Unlock()
	if was && pod != nil {
		c.event(pod, corev1.EventTypeNormal, ReasonTaintManagerEviction, "Cancelling deletion of Pod %s", key)
	}
}

func (c *Controller) evict(ctx context.Context, key string, pod *corev1.Pod, node *corev1.Node) error {
	// Say why first, so the pod's controllers see a disruption rather than a failure.
	cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: ReasonDeletionByTaintManager,
		Message: "Taint manager: deleting due to NoExecute taint", LastTransitionTime: metav1.NewTime(c.cfg.Clock.Now())}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{cond}}})
	if err != nil {
		return err
	}
	if _, err := c.cfg.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		if apierrors.IsNotFound(err) {
			c.unschedule(key, nil)
			return nil
		}
		return fmt.Errorf("marking pod %s as a disruption target: %w", key, err)
	}
	c.event(pod, corev1.EventTypeNormal, ReasonTaintManagerEviction, "Marking for deletion Pod %s", key)
	uid := pod.UID
	err = c.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s: %w", key, err)
	}
	c.mu.Lock()
	delete(c.scheduled, key)
	c.mu.Unlock()
	c.log.Info("pod evicted from NoExecute-tainted node", "pod", key, "node", node.Name, "taints", taintKeys(node.Spec.Taints, corev1.TaintEffectNoExecute))
	return nil
}
