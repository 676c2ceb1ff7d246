package plugins

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

const volumeBindingKey = "VolumeBinding"

// DelayedBinder is the seam for claims whose StorageClass binds on first consumer
// (WaitForFirstConsumer): it decides per node whether such claims can be satisfied there, and,
// once the scheduler has chosen a node, binds them before the pod is bound (upstream's Reserve,
// PreBind and Unreserve steps of the VolumeBinding plugin). Without one, such a claim is treated
// like an unbound immediate claim.
type DelayedBinder interface {
	// Filter says whether the unbound claims can be provisioned or bound for the pod on node.
	Filter(pod *corev1.Pod, claims []*corev1.PersistentVolumeClaim, node *corev1.Node) *fw.Status
	// Reserve runs in the scheduling cycle, right after node was chosen: it decides how each of
	// the pod's unbound delayed claims is satisfied there and holds the volumes it picks in
	// memory, so that the next pod's Filter no longer sees them free.
	Reserve(pod *corev1.Pod, node *corev1.Node) error
	// PreBind runs on the binding goroutine before the pod is bound: it writes the decisions
	// Reserve took and waits until the claims are bound (or fails after a timeout).
	PreBind(ctx context.Context, pod *corev1.Pod) error
	// Unreserve forgets what Reserve held and undoes, as far as not yet taken up, what PreBind
	// wrote; the scheduler calls it when binding the pod failed.
	Unreserve(ctx context.Context, pod *corev1.Pod)
}

// VolumeBinding rejects pods whose claims are missing or unbound (immediate binding), and nodes
// that a bound PersistentVolume's node affinity excludes.
type VolumeBinding struct {
	PVCs           corelisters.PersistentVolumeClaimLister
	PVs            corelisters.PersistentVolumeLister
	StorageClasses storagelisters.StorageClassLister
	Delayed        DelayedBinder
}

type volumeState struct {
	bound   []*nodeaffinity.NodeSelector
	delayed []*corev1.PersistentVolumeClaim
}

func (VolumeBinding) Name() string { return volumeBindingKey }

// ClaimNames lists the claims a pod uses, generic ephemeral volumes included (their claim is
// named <pod>-<volume>).
func ClaimNames(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

func (p VolumeBinding) PreFilter(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, _ *fw.Snapshot) *fw.Status {
	names := ClaimNames(pod.Pod)
	if len(names) == 0 || p.PVCs == nil {
		return fw.NewStatus(fw.Skip)
	}
	s := &volumeState{}
	unboundImmediate := false
	for _, name := range names {
		pvc, err := p.PVCs.PersistentVolumeClaims(pod.Pod.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			return fw.NewStatus(fw.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q not found", name))
		}
		if err != nil {
			return fw.NewStatus(fw.Error, err.Error())
		}
		if pvc.DeletionTimestamp != nil {
			return fw.NewStatus(fw.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		}
		if pvc.Spec.VolumeName == "" {
			if p.Delayed != nil && p.waitsForConsumer(pvc) {
				s.delayed = append(s.delayed, pvc)
			} else {
				unboundImmediate = true
			}
			continue
		}
		pv, err := p.PVs.Get(pvc.Spec.VolumeName)
		if apierrors.IsNotFound(err) {
			return fw.NewStatus(fw.UnschedulableAndUnresolvable, "pvc(s) bound to non-existent pv(s)")
		}
		if err != nil {
			return fw.NewStatus(fw.Error, err.Error())
		}
		if pv.Spec.NodeAffinity != nil && pv.Spec.NodeAffinity.Required != nil {
			sel, err := nodeaffinity.NewNodeSelector(pv.Spec.NodeAffinity.Required)
			if err != nil {
				return fw.NewStatus(fw.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolume %q: %v", pv.Name, err))
			}
			s.bound = append(s.bound, sel)
		}
	}
	if unboundImmediate {
		return fw.NewStatus(fw.UnschedulableAndUnresolvable, ReasonUnboundImmediate)
	}
	state.Write(volumeBindingKey, s)
	return nil
}

func (p VolumeBinding) waitsForConsumer(pvc *corev1.PersistentVolumeClaim) bool {
	if p.StorageClasses == nil || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName == "" {
		return false
	}
	sc, err := p.StorageClasses.Get(*pvc.Spec.StorageClassName)
	return err == nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

func (p VolumeBinding) Filter(_ context.Context, state *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	s, _ := state.Read(volumeBindingKey).(*volumeState)
	if s == nil {
		return nil
	}
	for _, sel := range s.bound {
		if !sel.Match(n.Node) {
			return fw.NewStatus(fw.UnschedulableAndUnresolvable, ReasonVolumeNodeAffinity)
		}
	}
	if len(s.delayed) > 0 {
		return p.Delayed.Filter(pod.Pod, s.delayed, n.Node)
	}
	return nil
}
