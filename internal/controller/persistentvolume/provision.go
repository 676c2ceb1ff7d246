package persistentvolume

import (
	"context"
	"fmt"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiff-dev/skiff/internal/localpath"
)

// provision creates the local-path volume of pvc on the selected node (WaitForFirstConsumer)
// or on one it picks (Immediate). It returns nil and no error when it cannot provision now;
// the claim then carries a ProvisioningFailed event saying why, and a node or class change
// (or the resync) brings it back.
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, selected string) (*corev1.PersistentVolume, error) {
	fail := func(format string, args ...any) (*corev1.PersistentVolume, error) {
		c.recorder.Event(pvc, corev1.EventTypeWarning, ReasonProvisioningFailed, fmt.Sprintf(format, args...))
		return nil, nil
	}
	if pvc.Spec.Selector != nil {
		return fail("claim.Spec.Selector is not supported for dynamic provisioning on %s", localpath.Provisioner)
	}
	if pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return fail("%s provides only volumeMode Filesystem", localpath.Provisioner)
	}
	for _, m := range pvc.Spec.AccessModes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			return fail("%s supports only the access modes ReadWriteOnce and ReadWriteOncePod, the claim asks for %s", localpath.Provisioner, m)
		}
	}
	if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		return fail("claim requests no storage")
	}
	var node *corev1.Node
	if selected != "" {
		n, err := c.nodes.Get(selected)
		if isNotFound(err) {
			return fail("the selected node %q does not exist", selected)
		}
		if err != nil {
			return nil, err
		}
		node = n
	} else {
		n, err := c.pickNode(sc)
		if err != nil {
			return nil, err
		}
		if n == nil {
			return fail("no Ready, schedulable node with annotation %s matches the allowed topologies of storage class %q", localpath.RootAnnotation, sc.Name)
		}
		node = n
	}
	root := node.Annotations[localpath.RootAnnotation]
	if root == "" {
		return fail("node %q cannot host %s volumes: it has no %s annotation", node.Name, localpath.Provisioner, localpath.RootAnnotation)
	}
	path, err := localpath.VolumePath(root, pvc)
	if err != nil {
		return fail("node %q: %v", node.Name, err)
	}
	c.recorder.Event(pvc, corev1.EventTypeNormal, ReasonProvisioning,
		fmt.Sprintf("provisioning volume for claim %q on node %q", claimKey(pvc.Namespace, pvc.Name), node.Name))
	pv := newVolume(pvc, sc, node, path)
	out, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// An earlier sync created it and the cache has not caught up.
		out, err = c.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if err == nil && (out.Spec.ClaimRef == nil || out.Spec.ClaimRef.UID != pvc.UID) {
			return fail("volume %q exists and is not this claim's", pv.Name)
		}
		return out, err
	}
	if err != nil {
		c.recorder.Event(pvc, corev1.EventTypeWarning, ReasonProvisioningFailed, fmt.Sprintf("creating volume %s: %v", pv.Name, err))
		return nil, err
	}
	c.log.Info("volume provisioned", "claim", claimKey(pvc.Namespace, pvc.Name), "volume", out.Name, "node", node.Name, "path", path)
	c.recorder.Event(pvc, corev1.EventTypeNormal, ReasonProvisioningSucceeded,
		fmt.Sprintf("Successfully provisioned volume %s on node %q", out.Name, node.Name))
	return out, nil
}

// newVolume is the local-path volume for pvc on node, as the storage contract lays it out.
func newVolume(pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, node *corev1.Node, path string) *corev1.PersistentVolume {
	reclaim := corev1.PersistentVolumeReclaimDelete
	if sc.ReclaimPolicy != nil {
		reclaim = *sc.ReclaimPolicy
	}
	mode := corev1.PersistentVolumeFilesystem
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        localpath.VolumeName(pvc),
			Labels:      map[string]string{localpath.NodeLabel: node.Name},
			Annotations: map[string]string{AnnProvisionedBy: localpath.Provisioner},
			Finalizers:  []string{localpath.CleanupFinalizer},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   slices.Clone(pvc.Spec.AccessModes),
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              sc.Name,
			VolumeMode:                    &mode,
			MountOptions:                  slices.Clone(sc.MountOptions),
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{localpath.NodeHostname(node)}}}}}}},
		},
	}
}

// pickNode chooses the node of an Immediate claim: Ready, schedulable, with a local-path root,
// in the class's allowed topologies; the one holding the fewest local-path volumes, by name on
// a tie, so that volumes spread.
func (c *Controller) pickNode(sc *storagev1.StorageClass) (*corev1.Node, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	pvs, err := c.pvs.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	for _, pv := range pvs {
		if n := pv.Labels[localpath.NodeLabel]; n != "" {
			count[n]++
		}
	}
	var ok []*corev1.Node
	for _, n := range nodes {
		if n.DeletionTimestamp == nil && nodeUsable(n) && n.Annotations[localpath.RootAnnotation] != "" && inTopologies(n, sc.AllowedTopologies) {
			ok = append(ok, n)
		}
	}
	if len(ok) == 0 {
		return nil, nil
	}
	sort.Slice(ok, func(i, j int) bool {
		if count[ok[i].Name] != count[ok[j].Name] {
			return count[ok[i].Name] < count[ok[j].Name]
		}
		return ok[i].Name < ok[j].Name
	})
	return ok[0], nil
}

// nodeUsable says whether a node may get a new volume: Ready and not cordoned.
func nodeUsable(n *corev1.Node) bool {
	if n.Spec.Unschedulable {
		return false
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// inTopologies says whether node's labels satisfy one of the terms (no terms: any node).
func inTopologies(n *corev1.Node, terms []corev1.TopologySelectorTerm) bool {
	if len(terms) == 0 {
		return true
	}
	for _, term := range terms {
		match := true
		for _, req := range term.MatchLabelExpressions {
			if v, ok := n.Labels[req.Key]; !ok || !slices.Contains(req.Values, v) {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
