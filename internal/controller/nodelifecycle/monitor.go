package nodelifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/flowcontrol"
)

// health is what the monitor remembers of one node's heartbeats. Times are the controller's
// own clock readings when a heartbeat was seen to change, never the node's timestamps, so that
// clock skew between hosts cannot make a node look dead or alive.
type health struct {
	probe         time.Time   // last time a heartbeat was seen to change
	heartbeat     metav1.Time // Ready condition's lastHeartbeatTime as last seen
	transition    metav1.Time // Ready condition's lastTransitionTime as last seen
	leaseRenew    metav1.MicroTime
	seenCondition bool
}

type zoneState string

const (
	zoneNormal  zoneState = "Normal"
	zonePartial zoneState = "PartialDisruption"
	zoneFull    zoneState = "FullDisruption"
)

// conditionsMarked are the conditions the node agent owns and the controller sets to Unknown
// when the agent goes silent (upstream's list).
var conditionsMarked = []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	if rc := readyCondition(n); rc != nil {
		return rc.Status
	}
	return corev1.ConditionUnknown
}

func zoneOf(n *corev1.Node) string {
	r, z := n.Labels[corev1.LabelTopologyRegion], n.Labels[corev1.LabelTopologyZone]
	if r == "" && z == "" {
		return ""
	}
	return r + ":" + z
}

// monitor is one pass over every node: heartbeats, conditions, NoExecute taints, pods' readiness.
func (c *Controller) monitor(ctx context.Context) error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	var errs []error
	current := make([]*corev1.Node, 0, len(nodes))
	for _, n := range nodes {
		cur, err := c.checkHealth(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
		}
		if cur == nil {
			continue
		}
		current = append(current, cur)
		if readyStatus(cur) == corev1.ConditionUnknown && readyCondition(cur) != nil {
			if err := c.markPodsNotReady(ctx, cur); err != nil {
				errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
			}
		}
	}
	c.updateZones(current)
	for _, n := range current {
		if err := c.syncNoExecute(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// checkHealth records n's heartbeats and marks its conditions Unknown once they are older than
// the grace period. It returns the node as now stored (nil if gone).
func (c *Controller) checkHealth(ctx context.Context, n *corev1.Node) (*corev1.Node, error) {
	now := c.cfg.Clock.Now()
	rc := readyCondition(n)
	var lease *metav1.MicroTime
	if l, err := c.leases.Leases(LeaseNamespace).Get(n.Name); err == nil && l.Spec.RenewTime != nil {
		lease = l.Spec.RenewTime
	}
	c.mu.Lock()
	h, known := c.health[n.Name]
	if !known {
		h = &health{probe: now}
		if rc == nil {
			h.probe = n.CreationTimestamp.Time // the startup grace runs from creation
		}
		c.health[n.Name] = h
	}
	// Any change of the agent's heartbeats after the first sight is a sign of life.
	if rc != nil && (!h.seenCondition || !rc.LastHeartbeatTime.Equal(&h.heartbeat) || !rc.LastTransitionTime.Equal(&h.transition)) {
		if known {
			h.probe = now
		}
		h.heartbeat, h.transition, h.seenCondition = rc.LastHeartbeatTime, rc.LastTransitionTime, true
	}
	if lease != nil && !lease.Equal(&h.leaseRenew) {
		if known {
			h.probe = now
		}
		h.leaseRenew = *lease
	}
	grace := c.cfg.GracePeriod
	if rc == nil {
		grace = c.cfg.StartupGracePeriod
	}
	expired := now.After(h.probe.Add(grace))
	c.mu.Unlock()
	if !expired {
		return n, nil
	}
	upd := n.DeepCopy()
	changed := false
	mt := metav1.NewTime(now)
	for _, t := range conditionsMarked {
		i := slices.IndexFunc(upd.Status.Conditions, func(cd corev1.NodeCondition) bool { return cd.Type == t })
		if i < 0 {
			upd.Status.Conditions = append(upd.Status.Conditions, corev1.NodeCondition{Type: t, Status: corev1.ConditionUnknown,
				Reason: ReasonNodeStatusNeverUpdated, Message: messageNeverPosted,
				LastHeartbeatTime: n.CreationTimestamp, LastTransitionTime: mt})
			changed = true
			continue
		}
		cd := &upd.Status.Conditions[i]
		if cd.Status == corev1.ConditionUnknown {
			continue
		}
		cd.Status, cd.Reason, cd.Message, cd.LastTransitionTime = corev1.ConditionUnknown, ReasonNodeStatusUnknown, messageStoppedPosting, mt
		changed = true
	}
	if !changed {
		return n, nil
	}
	out, err := c.cfg.Client.CoreV1().Nodes().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return n, err
	}
	c.log.Info("node stopped posting status: conditions Unknown", "node", n.Name, "lastProbe", h.probe)
	if rc != nil && rc.Status == corev1.ConditionTrue {
		c.event(nodeRef(n), corev1.EventTypeNormal, ReasonNodeNotReady, "Node %s status is now: %s", n.Name, ReasonNodeNotReady)
	}
	// Our own write is not a heartbeat.
	c.mu.Lock()
	if nrc := readyCondition(out); nrc != nil {
		h.heartbeat, h.transition = nrc.LastHeartbeatTime, nrc.LastTransitionTime
	}
	c.mu.Unlock()
	return out, nil
}

// nodeRef is what events about a node point at: upstream uses the node's name as its uid.
func nodeRef(n *corev1.Node) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: n.Name, UID: types.UID(n.Name)}
}

// markPodsNotReady sets Ready=False on the pods of a node whose agent is silent: nobody else can.
func (c *Controller) markPodsNotReady(ctx context.Context, n *corev1.Node) error {
	objs, err := c.podIdx.ByIndex(nodeNameIndex, n.Name)
	if err != nil {
		return err
	}
	now := metav1.NewTime(c.cfg.Clock.Now())
	var errs []error
	for _, o := range objs {
		p, ok := o.(*corev1.Pod)
		if !ok || p.Spec.NodeName != n.Name {
			continue
		}
		i := slices.IndexFunc(p.Status.Conditions, func(cd corev1.PodCondition) bool { return cd.Type == corev1.PodReady })
		if i < 0 || p.Status.Conditions[i].Status == corev1.ConditionFalse {
			continue
		}
		upd := p.DeepCopy()
		upd.Status.Conditions[i].Status = corev1.ConditionFalse
		upd.Status.Conditions[i].LastTransitionTime = now
		if _, err := c.cfg.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err))
			}
			continue
		}
		c.log.Info("pod marked not ready: its node is not responding", "pod", p.Namespace+"/"+p.Name, "node", n.Name)
		c.event(upd, corev1.EventTypeWarning, ReasonNodeNotReady, "Node is not ready")
	}
	return errors.Join(errs...)
}

// computeZoneState is upstream's rule: no Ready node is a full disruption; more than two nodes
// not Ready, at least the threshold's share, a partial one.
func computeZoneState(ready, notReady int, threshold float64) zoneState {
	switch {
	case ready == 0 && notReady > 0:
		return zoneFull
	case notReady > 2 && float64(notReady)/float64(ready+notReady) >= threshold:
		return zonePartial
	}
	return zoneNormal
}

// updateZones recomputes every zone's state and eviction pace.
func (c *Controller) updateZones(nodes []*corev1.Node) {
	type counts struct{ ready, notReady int }
	byZone := map[string]*counts{}
	for _, n := range nodes {
		z := zoneOf(n)
		if byZone[z] == nil {
			byZone[z] = &counts{}
		}
		if readyStatus(n) == corev1.ConditionTrue {
			byZone[z].ready++
		} else {
			byZone[z].notReady++
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	allFull := len(byZone) > 0
	for name, ct := range byZone {
		st := computeZoneState(ct.ready, ct.notReady, c.cfg.UnhealthyZoneThreshold)
		allFull = allFull && st == zoneFull
		z := c.zones[name]
		if z == nil {
			z = &zone{}
			c.zones[name] = z
		}
		if z.state != st && z.state != "" {
			c.log.Info("zone state changed", "zone", name, "from", z.state, "to", st)
		}
		z.state = st
		qps := c.cfg.EvictionRate
		if st == zonePartial {
			qps = 0
			if ct.ready+ct.notReady > c.cfg.LargeClusterThreshold {
				qps = c.cfg.SecondaryEvictionRate
			}
		}
		if z.limiter == nil || z.qps != qps {
			z.qps = qps
			z.limiter = nil
			if qps > 0 {
				z.limiter = flowcontrol.NewTokenBucketPassiveRateLimiterWithClock(float32(qps), 1, c.cfg.Clock)
			}
		}
	}
	for name := range c.zones {
		if _, ok := byZone[name]; !ok {
			delete(c.zones, name)
		}
	}
	if allFull != c.disrupted {
		if allFull {
			c.log.Warn("every node is not Ready: no NoExecute taints until some node is back (the controller's own connectivity is suspect)")
		} else {
			c.log.Info("some node is Ready again: leaving full disruption mode")
			// Give every node a fresh grace period: their heartbeats may not have reached us.
			now := c.cfg.Clock.Now()
			for _, h := range c.health {
				h.probe = now
			}
		}
		c.disrupted = allFull
	}
}

// syncNoExecute keeps n's unreachable/not-ready NoExecute taint in line with its Ready
// condition; new taints wait for their zone's limiter.
func (c *Controller) syncNoExecute(ctx context.Context, n *corev1.Node) error {
	want := map[string]bool{}
	c.mu.Lock()
	disrupted := c.disrupted
	c.mu.Unlock()
	if !disrupted {
		switch readyStatus(n) {
		case corev1.ConditionFalse:
			want[corev1.TaintNodeNotReady] = true
		case corev1.ConditionUnknown:
			want[corev1.TaintNodeUnreachable] = true
		}
	}
	have := map[string]bool{}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable) {
			have[t.Key] = true
		}
	}
	adds := false
	for k := range want {
		adds = adds || !have[k]
	}
	if !adds && len(have) == len(want) {
		return nil
	}
	// A swap between the two keeps the node tainted all along: no rate limit for it.
	if adds && len(have) == 0 {
		c.mu.Lock()
		z := c.zones[zoneOf(n)]
		allowed := z != nil && z.limiter != nil && z.limiter.TryAccept()
		c.mu.Unlock()
		if !allowed {
			return nil // the next pass tries again
		}
	}
	now := metav1.NewTime(c.cfg.Clock.Now())
	var taints []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable) && !want[t.Key] {
			continue
		}
		taints = append(taints, t)
	}
	for _, k := range []string{corev1.TaintNodeUnreachable, corev1.TaintNodeNotReady} {
		if want[k] && !have[k] {
			taints = append(taints, corev1.Taint{Key: k, Effect: corev1.TaintEffectNoExecute, TimeAdded: &now})
		}
	}
	if err := c.patchTaints(ctx, n, taints); err != nil {
		return err
	}
	c.log.Info("NoExecute taints updated", "node", n.Name, "ready", readyStatus(n), "taints", taintKeys(taints, corev1.TaintEffectNoExecute))
	return nil
}

// noScheduleFor maps conditions to the NoSchedule taints upstream's TaintNodesByCondition adds.
func noScheduleFor(n *corev1.Node) map[string]bool {
	want := map[string]bool{}
	switch readyStatus(n) {
	case corev1.ConditionFalse:
		want[corev1.TaintNodeNotReady] = true
	case corev1.ConditionUnknown:
		if readyCondition(n) != nil {
			want[corev1.TaintNodeUnreachable] = true
		} else {
			want[corev1.TaintNodeNotReady] = true
		}
	}
	for _, cd := range n.Status.Conditions {
		if cd.Status != corev1.ConditionTrue {
			continue
		}
		switch cd.Type {
		case corev1.NodeMemoryPressure:
			want[corev1.TaintNodeMemoryPressure] = true
		case corev1.NodeDiskPressure:
			want[corev1.TaintNodeDiskPressure] = true
		case corev1.NodePIDPressure:
			want[corev1.TaintNodePIDPressure] = true
		case corev1.NodeNetworkUnavailable:
			want[corev1.TaintNodeNetworkUnavailable] = true
		}
	}
	if n.Spec.Unschedulable {
		want[corev1.TaintNodeUnschedulable] = true
	}
	return want
}

var noScheduleKeys = map[string]bool{
	corev1.TaintNodeNotReady: true, corev1.TaintNodeUnreachable: true, corev1.TaintNodeMemoryPressure: true,
	corev1.TaintNodeDiskPressure: true, corev1.TaintNodePIDPressure: true, corev1.TaintNodeNetworkUnavailable: true,
	corev1.TaintNodeUnschedulable: true,
}

// syncNoSchedule keeps one node's condition NoSchedule taints.
func (c *Controller) syncNoSchedule(ctx context.Context, name string) error {
	n, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	want := noScheduleFor(n)
	var taints []corev1.Taint
	changed := false
	have := map[string]bool{}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule && noScheduleKeys[t.Key] {
			if !want[t.Key] || have[t.Key] {
				changed = true
				continue
			}
			have[t.Key] = true
		}
		taints = append(taints, t)
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !have[k] {
			taints = append(taints, corev1.Taint{Key: k, Effect: corev1.TaintEffectNoSchedule})
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return c.patchTaints(ctx, n, taints)
}

// patchTaints replaces n's taints, conditional on the version they were computed from.
func (c *Controller) patchTaints(ctx context.Context, n *corev1.Node, taints []corev1.Taint) error {
	if taints == nil {
		taints = []corev1.Taint{}
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": n.ResourceVersion},
		"spec":     map[string]any{"taints": taints},
	})
	if err != nil {
		return err
	}
	_, err = c.cfg.Client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func noExecuteTaints(n *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

func taintsEqual(a, b []corev1.Taint) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.Taint) bool {
		return x.Key == y.Key && x.Value == y.Value && x.Effect == y.Effect
	})
}

func taintKeys(ts []corev1.Taint, effect corev1.TaintEffect) []string {
	var out []string
	for _, t := range ts {
		if t.Effect == effect {
			out = append(out, t.Key)
		}
	}
	return out
}
