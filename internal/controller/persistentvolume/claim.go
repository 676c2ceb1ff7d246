package persistentvolume

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-dev/skiff/internal/localpath"
	"github.com/skiff-dev/skiff/internal/volumematch"
)

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

// syncClaim brings one claim towards Bound: binding to a volume it names or that matches it,
// provisioning one, or saying why it waits; and keeps a bound claim's status and size in step
// with its volume.
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pvc, err := c.pvcs.PersistentVolumeClaims(namespace).Get(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pvc.Spec.VolumeName == "" {
		return c.syncUnboundClaim(ctx, pvc)
	}
	return c.syncBoundClaim(ctx, pvc)
}

func (c *Controller) syncUnboundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	log := c.log.With("claim", claimKey(pvc.Namespace, pvc.Name))
	if pvc.Spec.StorageClassName == nil && pvc.DeletionTimestamp == nil {
		if done, err := c.assignDefaultClass(ctx, pvc); done || err != nil {
			return err
		}
	}
	className := volumematch.ClaimClass(pvc)
	sc, err := c.class(className)
	if err != nil {
		return err
	}
	delay := sc != nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
	pvs, err := c.pvs.List(labels.Everything())
	if err != nil {
		return err
	}
	// With delayed binding the scheduler picks free volumes; only one already pre-bound to
	// this claim (by the scheduler, or provisioned for it) is ours to complete.
	if pv := volumematch.Find(pvc, pvs, volumematch.Options{DelayBinding: delay}); pv != nil {
		log.Debug("binding", "volume", pv.Name)
		return c.bind(ctx, pv, pvc)
	}
	if pvc.DeletionTimestamp != nil {
		return nil
	}
	selected := pvc.Annotations[AnnSelectedNode]
	switch {
	case delay && selected == "":
		c.recorder.Event(pvc, corev1.EventTypeNormal, ReasonWaitForFirstConsumer, "waiting for first consumer to be created before binding")
		return nil
	case className == "":
		c.recorder.Event(pvc, corev1.EventTypeNormal, ReasonFailedBinding, "no persistent volumes available for this claim and no storage class is set")
		return nil
	case sc == nil:
		c.recorder.Event(pvc, corev1.EventTypeWarning, ReasonProvisioningFailed, fmt.Sprintf("storageclass.storage.k8s.io %q not found", className))
		return nil
	case sc.Provisioner != localpath.Provisioner:
		c.recorder.Event(pvc, corev1.EventTypeNormal, ReasonExternalProvisioning,
			fmt.Sprintf("Waiting for a volume to be created by the external provisioner %q or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", sc.Provisioner))
		return nil
	}
	pv, err := c.provision(ctx, pvc, sc, selected)
	if err != nil || pv == nil {
		return err
	}
	// Bind at once rather than wait for the new volume to come back through the informer: the
	// claim's pod is waiting for it.
	return c.bind(ctx, pv, pvc)
}

// assignDefaultClass gives a claim created without a class, while no class was the default, the
// default class once there is one (upstream's retroactive default class); the claim comes back
// through the informer with it. It reports whether it wrote the claim.
func (c *Controller) assignDefaultClass(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (bool, error) {
	if _, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return false, nil // the old annotation names its class, "" included
	}
	classes, err := c.classes.List(labels.Everything())
	if err != nil {
		return false, err
	}
	def := volumematch.DefaultClass(classes)
	if def == nil {
		return false, nil
	}
	upd := pvc.DeepCopy()
	upd.Spec.StorageClassName = &def.Name
	if _, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return false, err
	}
	c.log.Info("default class assigned", "claim", claimKey(pvc.Namespace, pvc.Name), "class", def.Name)
	return true, nil
}

// syncBoundClaim handles a claim that names its volume: a user's pre-binding still to complete,
// a finished binding to keep, or a volume that went away (Lost).
func (c *Controller) syncBoundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	pv, err := c.pvs.Get(pvc.Spec.VolumeName)
	if isNotFound(err) {
		// The cache may not have seen a volume created a moment ago: ask before calling it lost.
		pv, err = c.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	}
	if isNotFound(err) {
		if !metav1.HasAnnotation(pvc.ObjectMeta, AnnBindCompleted) {
			// Pre-bound by a user to a volume that does not exist (yet): wait for it.
			return c.setClaimPhase(ctx, pvc, corev1.ClaimPending)
		}
		if pvc.Status.Phase != corev1.ClaimLost {
			c.recorder.Event(pvc, corev1.EventTypeWarning, ReasonClaimLost, "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
		}
		return c.setClaimPhase(ctx, pvc, corev1.ClaimLost)
	}
	if err != nil {
		return err
	}
	switch {
	case pv.Spec.ClaimRef == nil:
		if !metav1.HasAnnotation(pvc.ObjectMeta, AnnBindCompleted) {
			if err := volumematch.ClaimFits(pvc, pv); err != nil {
				c.recorder.Event(pvc, corev1.EventTypeWarning, ReasonVolumeMismatch, fmt.Sprintf("Cannot bind to requested volume %q: %v", pv.Name, err))
				return nil
			}
		}
		// A user's pre-binding, or a bound volume whose claimRef was lost: (re)bind it.
		return c.bind(ctx, pv, pvc)
	case volumematch.IsBoundTo(pv, pvc):
		if err := c.bind(ctx, pv, pvc); err != nil {
			return err
		}
		return c.expand(ctx, pvc, pv)
	default:
		if metav1.HasAnnotation(pvc.ObjectMeta, AnnBindCompleted) {
			if pvc.Status.Phase != corev1.ClaimLost {
				c.recorder.Event(pvc, corev1.EventTypeWarning, ReasonClaimMisbound, "Two claims are bound to the same volume, this one is bound incorrectly")
			}
			return c.setClaimPhase(ctx, pvc, corev1.ClaimLost)
		}
		c.recorder.Event(pvc, corev1.EventTypeWarning, ReasonFailedBinding, fmt.Sprintf("volume %q already bound to a different claim.", pv.Name))
		return c.setClaimPhase(ctx, pvc, corev1.ClaimPending)
	}
}

// bind completes the binding of pv and pvc in upstream's order: the volume's claimRef, the
// volume's phase, the claim's volumeName and annotations, the claim's phase. Each step skips
// a write that changes nothing, so bind is also how a bound pair is kept consistent.
func (c *Controller) bind(ctx context.Context, pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) error {
	pv, err := c.bindVolumeToClaim(ctx, pv, pvc)
	if err != nil {
		return fmt.Errorf("binding volume %s to claim %s/%s: %w", pv.Name, pvc.Namespace, pvc.Name, err)
	}
	if pv, err = c.setVolumePhase(ctx, pv, corev1.VolumeBound, ""); err != nil {
		return fmt.Errorf("volume %s phase Bound: %w", pv.Name, err)
	}
	if pvc, err = c.bindClaimToVolume(ctx, pvc, pv); err != nil {
		return fmt.Errorf("binding claim %s/%s to volume %s: %w", pvc.Namespace, pvc.Name, pv.Name, err)
	}
	return c.setClaimBoundStatus(ctx, pvc, pv)
}

func (c *Controller) bindVolumeToClaim(ctx context.Context, pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, error) {
	ref := pv.Spec.ClaimRef
	if ref != nil && ref.Name == pvc.Name && ref.Namespace == pvc.Namespace && ref.UID == pvc.UID {
		return pv, nil
	}
	next := pv.DeepCopy()
	if !volumematch.IsBoundTo(pv, pvc) {
		// Not pre-bound by a user: the controller chose this pairing.
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, AnnBoundByController, "yes")
	}
	next.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
		Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion}
	out, err := c.client.CoreV1().PersistentVolumes().Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return pv, err
	}
	c.log.Info("volume bound", "volume", pv.Name, "claim", claimKey(pvc.Namespace, pvc.Name))
	return out, nil
}

func (c *Controller) bindClaimToVolume(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	next := pvc.DeepCopy()
	if next.Spec.VolumeName != pv.Name {
		next.Spec.VolumeName = pv.Name
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, AnnBoundByController, "yes")
	}
	metav1.SetMetaDataAnnotation(&next.ObjectMeta, AnnBindCompleted, "yes")
	if p := pv.Annotations[AnnProvisionedBy]; p != "" {
		// kubectl describe pvc shows who provisioned it; upstream writes this before provisioning.
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, AnnStorageProvisioner, p)
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, AnnBetaStorageProvisioner, p)
	}
	if equality.Semantic.DeepEqual(next.ObjectMeta.Annotations, pvc.ObjectMeta.Annotations) && next.Spec.VolumeName == pvc.Spec.VolumeName {
		return pvc, nil
	}
	return c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, next, metav1.UpdateOptions{})
}

// setClaimBoundStatus writes phase Bound with the volume's capacity and access modes.
func (c *Controller) setClaimBoundStatus(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	next := pvc.DeepCopy()
	next.Status.Phase = corev1.ClaimBound
	next.Status.AccessModes = slices.Clone(pv.Spec.AccessModes)
	next.Status.Capacity = maps.Clone(pv.Spec.Capacity)
	if next.Status.AllocatedResourceStatuses[corev1.ResourceStorage] == corev1.PersistentVolumeClaimControllerResizeInProgress {
		// A growth finished once the volume has what was allocated.
		have := pv.Spec.Capacity[corev1.ResourceStorage]
		if have.Cmp(next.Status.AllocatedResources[corev1.ResourceStorage]) >= 0 {
			delete(next.Status.AllocatedResourceStatuses, corev1.ResourceStorage)
			if len(next.Status.AllocatedResourceStatuses) == 0 {
				next.Status.AllocatedResourceStatuses = nil
			}
		}
	}
	if equality.Semantic.DeepEqual(next.Status, pvc.Status) {
		return nil
	}
	_, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err == nil && pvc.Status.Phase != corev1.ClaimBound {
		c.log.Info("claim bound", "claim", claimKey(pvc.Namespace, pvc.Name), "volume", pv.Name)
	}
	return err
}

func (c *Controller) setClaimPhase(ctx context.Context, pvc *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase) error {
	if pvc.Status.Phase == phase {
		return nil
	}
	next := pvc.DeepCopy()
	next.Status.Phase = phase
	if phase == corev1.ClaimPending {
		// A Lost claim keeps what it had, as upstream; a Pending one has nothing yet.
		next.Status.Capacity, next.Status.AccessModes = nil, nil
	}
	_, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err == nil {
		c.log.Info("claim phase", "claim", claimKey(pvc.Namespace, pvc.Name), "phase", phase)
	}
	return err
}

// expand grows a provisioned local-path volume to a claim's larger request (a directory needs
// no resize: the capacity is bookkeeping) when the claim's class allows expansion; the claim's
// status follows through setClaimBoundStatus.
func (c *Controller) expand(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	want, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pv.Spec.Capacity[corev1.ResourceStorage]
	if !ok || want.Cmp(have) <= 0 || pv.Annotations[AnnProvisionedBy] != localpath.Provisioner {
		return nil
	}
	sc, err := c.class(volumematch.ClaimClass(pvc))
	if err != nil || sc == nil || sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion {
		return err
	}
	c.recorder.Event(pvc, corev1.EventTypeNormal, ReasonResizing, fmt.Sprintf("resizing volume %s from %s to %s", pv.Name, have.String(), want.String()))
	// The claim records what is being allocated first, so that a failure in between is visible.
	claim := pvc.DeepCopy()
	if claim.Status.AllocatedResources == nil {
		claim.Status.AllocatedResources = corev1.ResourceList{}
	}
	claim.Status.AllocatedResources[corev1.ResourceStorage] = want
	if claim.Status.AllocatedResourceStatuses == nil {
		claim.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{}
	}
	claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage] = corev1.PersistentVolumeClaimControllerResizeInProgress
	claim, err = c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("recording the resize of claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	next := pv.DeepCopy()
	next.Spec.Capacity[corev1.ResourceStorage] = want
	out, err := c.client.CoreV1().PersistentVolumes().Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("growing volume %s: %w", pv.Name, err)
	}
	if err := c.setClaimBoundStatus(ctx, claim, out); err != nil {
		return err
	}
	c.log.Info("volume expanded", "claim", claimKey(pvc.Namespace, pvc.Name), "volume", pv.Name, "capacity", want.String())
	c.recorder.Event(pvc, corev1.EventTypeNormal, ReasonVolumeResizeSuccessful, fmt.Sprintf("Resize volume %s succeeded", pv.Name))
	return nil
}
