package nodestatus

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// The beta OS/arch labels are still applied by upstream kubelets for old selectors.
const (
	labelLegacyOS   = "beta.kubernetes.io/os"
	labelLegacyArch = "beta.kubernetes.io/arch"
)

// defaultLabels are the labels the agent owns: it sets them at registration and puts them back on
// an existing Node, while every other label is left to whoever set it.
func (a *Agent) defaultLabels() map[string]string {
	return map[string]string{
		corev1.LabelHostname:   a.cfg.Hostname,
		corev1.LabelOSStable:   runtime.GOOS,
		corev1.LabelArchStable: runtime.GOARCH,
		labelLegacyOS:          runtime.GOOS,
		labelLegacyArch:        runtime.GOARCH,
	}
}

// initialNode is the Node the agent creates when none exists.
func (a *Agent) initialNode() *corev1.Node {
	labels := a.defaultLabels()
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: labels, Annotations: maps.Clone(a.cfg.Annotations)},
		Spec: corev1.NodeSpec{
			Taints:        slices.Clone(a.cfg.RegisterWithTaints),
			Unschedulable: a.cfg.Unschedulable,
		},
	}
	if a.cfg.Unschedulable && !slices.ContainsFunc(n.Spec.Taints, isUnschedulableTaint) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	if a.cfg.PodCIDR != "" {
		n.Spec.PodCIDR = a.cfg.PodCIDR
		n.Spec.PodCIDRs = []string{a.cfg.PodCIDR}
	}
	return n
}

func isUnschedulableTaint(t corev1.Taint) bool {
	return t.Key == corev1.TaintNodeUnschedulable && t.Effect == corev1.TaintEffectNoSchedule
}

// reconcile adjusts an existing Node to this agent: the default labels (the kubelet's, e.g. after
// a change of --hostname-override or an arch migration), the agent's annotations (a moved data
// dir moves the local-path root) and a pod CIDR when the Node has none.
// Taints, unschedulable, other labels and a pod CIDR already set belong to others (kubectl
// cordon/taint/label, the controller manager's IPAM) and stay. It reports whether it changed node.
func (a *Agent) reconcile(node *corev1.Node) bool {
	changed := false
	want := a.defaultLabels()
	for k := range want {
		if v, ok := a.cfg.Labels[k]; ok {
			want[k] = v
		}
	}
	for k, v := range want {
		if node.Labels[k] != v {
			if node.Labels == nil {
				node.Labels = map[string]string{}
			}
			node.Labels[k] = v
			changed = true
		}
	}
	for k, v := range a.cfg.Annotations {
		if node.Annotations[k] != v {
			if node.Annotations == nil {
				node.Annotations = map[string]string{}
			}
			node.Annotations[k] = v
			changed = true
		}
	}
	if a.cfg.PodCIDR != "" && node.Spec.PodCIDR == "" && len(node.Spec.PodCIDRs) == 0 {
		node.Spec.PodCIDR = a.cfg.PodCIDR
		node.Spec.PodCIDRs = []string{a.cfg.PodCIDR}
		changed = true
	}
	return changed
}

// metaSpecPatch is the strategic merge patch of labels, annotations and spec from old to new, carrying old's
// resourceVersion so that a concurrent writer (an IPAM controller setting the pod CIDR) makes it
// fail with a conflict instead of being overwritten.
func metaSpecPatch(old, new *corev1.Node) ([]byte, error) {
	strip := func(n *corev1.Node) ([]byte, error) {
		return json.Marshal(corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: n.Labels, Annotations: n.Annotations}, Spec: n.Spec})
	}
	oldJSON, err := strip(old)
	if err != nil {
		return nil, err
	}
	newJSON, err := strip(new)
	if err != nil {
		return nil, err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, corev1.Node{})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(patch, &m); err != nil {
		return nil, err
	}
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		m["metadata"] = meta
	}
	meta["resourceVersion"] = old.ResourceVersion
	return json.Marshal(m)
}

// register creates the Node, or adopts and reconciles the existing one. The status is sent with
// the create as upstream does (API servers that drop it on create get it from the first status
// update, which follows at once).
func (a *Agent) register(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	node := a.initialNode()
	a.setStatus(node, a.observe(), a.cfg.Clock.Now())
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if err == nil {
		a.log.Info("registered node")
		a.remember(created)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating node: %w", err)
	}
	existing, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("getting existing node: %w", err)
	}
	desired := existing.DeepCopy()
	if a.reconcile(desired) {
		patch, err := metaSpecPatch(existing, desired)
		if err != nil {
			return err
		}
		existing, err = nodes.Patch(ctx, a.cfg.NodeName, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("reconciling existing node: %w", err)
		}
	}
	if a.cfg.PodCIDR != "" && existing.Spec.PodCIDR != "" && existing.Spec.PodCIDR != a.cfg.PodCIDR {
		a.log.Warn("node already has a different pod CIDR; using the node's", "configured", a.cfg.PodCIDR, "podCIDR", existing.Spec.PodCIDR)
	}
	a.log.Info("adopted existing node")
	a.remember(existing)
	return nil
}
