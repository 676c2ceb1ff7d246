package pvcresize

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/volumematch"
)

var (
	claimsGVR  = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
	classesGVR = storagev1.SchemeGroupVersion.WithResource("storageclasses")
)

// Plugin is the PersistentVolumeClaimResize plugin.
type Plugin struct {
	lookup admission.Lookup
}

// New returns the plugin reading classes through l.
func New(l admission.Lookup) *Plugin { return &Plugin{lookup: l} }

// Validate refuses a growing request the claim's class does not allow.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Update || a.Subresource != "" || a.Resource.GroupResource() != claimsGVR.GroupResource() {
		return nil
	}
	pvc, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	old, ok := a.OldObject.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	newSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	oldSize := old.Spec.Resources.Requests[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) <= 0 {
		return nil
	}
	if old.Status.Phase != corev1.ClaimBound {
		return admission.NewForbidden(a, errors.New("Only bound persistent volume claims can be expanded"))
	}
	if !p.allowed(ctx, pvc, old) {
		return admission.NewForbidden(a, errors.New("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"))
	}
	return nil
}

func (p *Plugin) allowed(ctx context.Context, pvc, old *corev1.PersistentVolumeClaim) bool {
	class := volumematch.ClaimClass(pvc)
	if class == "" || class != volumematch.ClaimClass(old) {
		return false
	}
	obj, err := admission.GetLive(ctx, p.lookup, classesGVR, "", class)
	if err != nil {
		return false
	}
	sc, ok := obj.(*storagev1.StorageClass)
	return ok && sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
}
