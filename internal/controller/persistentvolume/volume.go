package persistentvolume

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/localpath"
)

// syncVolume keeps one volume's phase true to its claim: Available when free or waiting for
// the claim it is pre-bound to, Bound, Released when its claim is gone, then reclaimed.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.pvs.Get(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	log := c.log.With("volume", pv.Name)
	if pv.DeletionTimestamp != nil {
		return c.releaseOrphanedCleanup(ctx, pv)
	}
	ref := pv.Spec.ClaimRef
	if ref == nil {
		_, err := c.setVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
		return err
	}
	if ref.UID == "" {
		// Pre-bound by a user to a claim that has not bound yet: the claim's sync completes it.
		c.claimQueue.Add(claimKey(ref.Namespace, ref.Name))
		_, err := c.setVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
		return err
	}
	pvc, err := c.pvcs.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if isNotFound(err) {
		// Never release a volume on the cache's word: a claim created a moment ago may not be
		// in it yet, and Delete would destroy its data.
		pvc, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if err != nil && !isNotFound(err) {
		return err
	}
	if isNotFound(err) || pvc.UID != ref.UID {
		return c.reclaim(ctx, pv)
	}
	switch pvc.Spec.VolumeName {
	case "":
		// The binding is in progress (or the claim lost its volumeName): the claim's sync
		// completes it.
		c.claimQueue.Add(claimKey(pvc.Namespace, pvc.Name))
		return nil
	case pv.Name:
		_, err := c.setVolumePhase(ctx, pv, corev1.VolumeBound, "")
		return err
	default:
		// The claim is bound to another volume. A pairing the controller made is undone so
		// that the volume serves again; a user's pre-binding is left to the user.
		if !metav1.HasAnnotation(pv.ObjectMeta, AnnBoundByController) {
			return nil
		}
		if pv.Annotations[AnnProvisionedBy] != "" && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
			// Provisioned for this claim and not wanted by it: upstream deletes such a volume.
			return c.reclaim(ctx, pv)
		}
		log.Info("unbinding volume from a claim bound elsewhere", "claim", claimKey(pvc.Namespace, pvc.Name))
		next := pv.DeepCopy()
		next.Spec.ClaimRef = nil
		delete(next.Annotations, AnnBoundByController)
		out, err := c.client.CoreV1().PersistentVolumes().Update(ctx, next, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		_, err = c.setVolumePhase(ctx, out, corev1.VolumeAvailable, "")
		return err
	}
}

// reclaim handles a volume whose claim is gone: Released, then the reclaim policy.
func (c *Controller) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.Status.Phase == corev1.VolumeFailed {
		return nil
	}
	pv, err := c.setVolumePhase(ctx, pv, corev1.VolumeReleased, "")
	if err != nil {
		return err
	}
	switch pv.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain:
		return nil
	case corev1.PersistentVolumeReclaimRecycle:
		msg := fmt.Sprintf("error getting recycler volume plugin for volume %q: no recyclable volume plugin matched", pv.Name)
		c.recorder.Event(pv, corev1.EventTypeWarning, ReasonVolumeFailedRecycle, msg)
		_, err := c.setVolumePhase(ctx, pv, corev1.VolumeFailed, msg)
		return err
	case corev1.PersistentVolumeReclaimDelete:
	default:
		return nil
	}
	by := pv.Annotations[AnnProvisionedBy]
	switch {
	case by == localpath.Provisioner:
		// Deleting the object is all: the node agent removes the directory, then its finalizer.
		err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &pv.UID}})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("deleting released volume %s: %w", pv.Name, err)
		}
		c.log.Info("released volume deleted", "volume", pv.Name)
		return nil
	case by != "" && !strings.HasPrefix(by, "kubernetes.io/"):
		// An external provisioner's volume: its deleter acts on Released, as upstream.
		return nil
	}
	// Nothing here knows how to delete this kind of volume (a hand-made local or hostPath
	// volume, say): upstream marks it Failed and says so.
	msg := fmt.Sprintf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", pv.Name)
	c.recorder.Event(pv, corev1.EventTypeWarning, ReasonVolumeFailedDelete, msg)
	_, err = c.setVolumePhase(ctx, pv, corev1.VolumeFailed, msg)
	return err
}

// releaseOrphanedCleanup removes the local-path cleanup finalizer of a deleting volume whose
// node is gone for good: no agent is left to remove the directory and the finalizer.
func (c *Controller) releaseOrphanedCleanup(ctx context.Context, pv *corev1.PersistentVolume) error {
	if !slices.Contains(pv.Finalizers, localpath.CleanupFinalizer) {
		return nil
	}
	node := pv.Labels[localpath.NodeLabel]
	if node != "" {
		if _, err := c.nodes.Get(node); err == nil || !isNotFound(err) {
			return err
		}
		// The cache says gone; make sure (a node re-registering right now keeps its volume).
		if _, err := c.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err == nil || !isNotFound(err) {
			return err
		}
	}
	next := pv.DeepCopy()
	next.Finalizers = slices.DeleteFunc(next.Finalizers, func(f string) bool { return f == localpath.CleanupFinalizer })
	if _, err := c.client.CoreV1().PersistentVolumes().Update(ctx, next, metav1.UpdateOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("removing %s from volume %s: %w", localpath.CleanupFinalizer, pv.Name, err)
	}
	c.log.Info("node of deleted volume is gone; cleanup finalizer removed", "volume", pv.Name, "node", node)
	return nil
}

// setVolumePhase writes phase (and message) with the transition time when they change.
func (c *Controller) setVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string) (*corev1.PersistentVolume, error) {
	if pv.Status.Phase == phase && pv.Status.Message == message {
		return pv, nil
	}
	next := pv.DeepCopy()
	if next.Status.Phase != phase {
		now := metav1.NewTime(c.now())
		next.Status.LastPhaseTransitionTime = &now
	}
	next.Status.Phase, next.Status.Message = phase, message
	next.Status.Reason = ""
	out, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return pv, err
	}
	c.log.Info("volume phase", "volume", pv.Name, "phase", phase)
	return out, nil
}
