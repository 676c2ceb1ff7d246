package defaultstorageclass

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

const (
	// IsDefaultAnnotation marks the default StorageClass.
	IsDefaultAnnotation = "storageclass.kubernetes.io/is-default-class"
	// BetaIsDefaultAnnotation is the older spelling upstream still honours.
	BetaIsDefaultAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
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
	if def := Default(classes); def != nil {
		name := def.Name
		pvc.Spec.StorageClassName = &name
	}
	return nil
}

// IsDefault says whether sc is marked as a default class.
func IsDefault(sc *storagev1.StorageClass) bool {
	return sc.Annotations[IsDefaultAnnotation] == "true" || sc.Annotations[BetaIsDefaultAnnotation] == "true"
}

// Default picks the default class among classes, or nil: the newest marked one, by name on a
// tie, so that adding a second default moves new claims to it (upstream's choice).
func Default(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	var defs []*storagev1.StorageClass
	for _, sc := range classes {
		if sc != nil && sc.DeletionTimestamp == nil && IsDefault(sc) {
			defs = append(defs, sc)
		}
	}
	if len(defs) == 0 {
		return nil
	}
	sort.Slice(defs, func(i, j int) bool {
		ti, tj := defs[i].CreationTimestamp, defs[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return tj.Before(&ti)
		}
		return defs[i].Name < defs[j].Name
	})
	return defs[0]
}
