package persistentvolumeclaim

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/persistentvolume"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/pod"
)

var supportedPhases = []corev1.PersistentVolumeClaimPhase{corev1.ClaimPending, corev1.ClaimBound, corev1.ClaimLost}

// Strategy returns the PersistentVolumeClaim strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*corev1.PersistentVolumeClaim]{
		Default:              Default,
		Validate:             Validate,
		ValidateUpdate:       ValidateUpdate,
		ValidateStatusUpdate: registry.IgnoringOld(validateStatus),
	}.Strategy()
}

// Default sets volumeMode Filesystem and phase Pending, as upstream.
func Default(pvc *corev1.PersistentVolumeClaim) {
	pod.DefaultPersistentVolumeClaimSpec(&pvc.Spec)
	if pvc.Status.Phase == "" {
		pvc.Status.Phase = corev1.ClaimPending
	}
}

// Validate checks a claim's spec.
func Validate(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	if len(pvc.Spec.AccessModes) == 0 {
		errs = append(errs, field.Required(specPath.Child("accessModes"), "at least 1 access mode is required"))
	} else {
		errs = append(errs, persistentvolume.ValidateAccessModes(pvc.Spec.AccessModes, specPath.Child("accessModes"))...)
	}
	storagePath := specPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(storagePath, q.String(), "must be greater than zero"))
	}
	if pvc.Spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(pvc.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, specPath.Child("selector"))...)
	}
	if sc := pvc.Spec.StorageClassName; sc != nil && *sc != "" {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(*sc, false) {
			errs = append(errs, field.Invalid(specPath.Child("storageClassName"), *sc, msg))
		}
	}
	if vac := pvc.Spec.VolumeAttributesClassName; vac != nil && *vac != "" {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(*vac, false) {
			errs = append(errs, field.Invalid(specPath.Child("volumeAttributesClassName"), *vac, msg))
		}
	}
	errs = append(errs, persistentvolume.ValidateVolumeMode(pvc.Spec.VolumeMode, specPath.Child("volumeMode"))...)
	if ds := pvc.Spec.DataSource; ds != nil {
		if ds.Kind == "" {
			errs = append(errs, field.Required(specPath.Child("dataSource", "kind"), ""))
		}
		if ds.Name == "" {
			errs = append(errs, field.Required(specPath.Child("dataSource", "name"), ""))
		}
	}
	if ds := pvc.Spec.DataSourceRef; ds != nil {
		if ds.Kind == "" {
			errs = append(errs, field.Required(specPath.Child("dataSourceRef", "kind"), ""))
		}
		if ds.Name == "" {
			errs = append(errs, field.Required(specPath.Child("dataSourceRef", "name"), ""))
		}
	}
	return errs
}

// ValidateUpdate freezes the spec except for the storage request of a bound claim, the volume
// attributes class, volumeName going from empty to set (the binder's write) and, on an unbound
// claim, storageClassName going from unset to set. As upstream
// since RecoverVolumeExpansionFailure, a request may come down again after a growth that has
// not happened yet, but never to or below the capacity the volume already has; without a
// recorded capacity (older objects) any decrease is refused. Whether a class allows growth at
// all is the PersistentVolumeClaimResize admission plugin's decision.
func ValidateUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := Validate(pvc)
	newSpec, oldSpec := pvc.Spec.DeepCopy(), old.Spec.DeepCopy()
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	oldSpec.VolumeAttributesClassName = newSpec.VolumeAttributesClassName
	// A claim created with no class while no class was the default gets one later, once one is
	// (upstream's retroactive default class): nil → a name, while the claim is unbound.
	if oldSpec.StorageClassName == nil && old.Spec.VolumeName == "" && newSpec.StorageClassName != nil {
		oldSpec.StorageClassName = newSpec.StorageClassName
	}
	newStorage, newOK := newSpec.Resources.Requests[corev1.ResourceStorage]
	oldStorage, oldOK := oldSpec.Resources.Requests[corev1.ResourceStorage]
	if newOK && oldOK && old.Status.Phase == corev1.ClaimBound {
		newSpec.Resources.Requests[corev1.ResourceStorage] = oldStorage
	}
	if newOK && oldOK && newStorage.Cmp(oldStorage) < 0 {
		storagePath := field.NewPath("spec", "resources", "requests", "storage")
		capacity, hasCapacity := old.Status.Capacity[corev1.ResourceStorage]
		switch {
		case !hasCapacity:
			errs = append(errs, field.Forbidden(storagePath, "field can not be less than previous value"))
		case newStorage.Cmp(capacity) <= 0:
			errs = append(errs, field.Forbidden(storagePath, "field can not be less than status.capacity"))
		}
	}
	if !equality.Semantic.DeepEqual(newSpec, oldSpec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"),
			"spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	return errs
}

func validateStatus(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	var errs field.ErrorList
	if p := pvc.Status.Phase; p != "" && !slices.Contains(supportedPhases, p) {
		errs = append(errs, field.NotSupported(field.NewPath("status", "phase"), p, supportedPhases))
	}
	for name, q := range pvc.Status.Capacity {
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(field.NewPath("status", "capacity").Key(string(name)), q.String(), "must be greater than or equal to 0"))
		}
	}
	return errs
}
