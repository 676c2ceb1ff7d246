package defaultstorageclass

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/volumematch"
)

var (
	claimsGVR  = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
	classesGVR = storagev1.SchemeGroupVersion.WithResource("storageclasses")
)

// Plugin is the DefaultStorageClass plugin.
type Plugin struct {
	lookup admission.Lookup
}

// New returns the plugin reading classes through l.
func New(l admission.Lookup) *Plugin { return &Plugin{lookup: l} }

// Admit sets the default class on a new claim that names none.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" || a.Resource.GroupResource() != claimsGVR.GroupResource() {
		return nil
	}
	pvc, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.StorageClassName != nil {
		return nil
	}
	if _, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return nil
	}
	objs, err := p.lookup.List(ctx, classesGVR, "")
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("failed to list storage classes: %v", err))
	}
	classes := make([]*storagev1.StorageClass, 0, len(objs))
	for _, o := range objs {
		if sc, ok := o.(*storagev1.StorageClass); ok {
			classes = append(classes, sc)
		}
	}
	if def := volumematch.DefaultClass(classes); def != nil {
		name := def.Name
		pvc.Spec.StorageClassName = &name
	}
	return nil
}
