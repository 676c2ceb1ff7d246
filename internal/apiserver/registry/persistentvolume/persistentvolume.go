package persistentvolume

import (
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

var (
	supportedAccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany,
		corev1.ReadWriteMany, corev1.ReadWriteOncePod}
	supportedReclaimPolicies = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete,
		corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
	supportedVolumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
	supportedPhases      = []corev1.PersistentVolumePhase{corev1.VolumePending, corev1.VolumeAvailable, corev1.VolumeBound,
		corev1.VolumeReleased, corev1.VolumeFailed}
)

// Strategy returns the PersistentVolume strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*corev1.PersistentVolume]{
		Default:              Default,
		Validate:             Validate,
		ValidateUpdate:       ValidateUpdate,
		ValidateStatusUpdate: registry.IgnoringOld(validateStatus),
	}.Strategy()
}

// Default sets reclaimPolicy Retain, volumeMode Filesystem and phase Pending, as upstream.
func Default(pv *corev1.PersistentVolume) {
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		m := corev1.PersistentVolumeFilesystem
		pv.Spec.VolumeMode = &m
	}
	if pv.Status.Phase == "" {
		pv.Status.Phase = corev1.VolumePending
	}
}

// Validate checks a PersistentVolume.
func Validate(pv *corev1.PersistentVolume) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	errs = append(errs, ValidateAccessModes(pv.Spec.AccessModes, specPath.Child("accessModes"))...)

	capPath := specPath.Child("capacity")
	if len(pv.Spec.Capacity) == 0 {
		errs = append(errs, field.Required(capPath, ""))
	} else {
		if _, ok := pv.Spec.Capacity[corev1.ResourceStorage]; !ok || len(pv.Spec.Capacity) > 1 {
			errs = append(errs, field.NotSupported(capPath, pv.Spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
		}
		for name, q := range pv.Spec.Capacity {
			if q.Sign() <= 0 {
				errs = append(errs, field.Invalid(capPath.Key(string(name)), q.String(), "must be greater than zero"))
			}
		}
	}

	if p := pv.Spec.PersistentVolumeReclaimPolicy; p != "" && !slices.Contains(supportedReclaimPolicies, p) {
		errs = append(errs, field.NotSupported(specPath.Child("persistentVolumeReclaimPolicy"), p, supportedReclaimPolicies))
	}
	errs = append(errs, ValidateVolumeMode(pv.Spec.VolumeMode, specPath.Child("volumeMode"))...)
	if sc := pv.Spec.StorageClassName; sc != "" {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(sc, false) {
			errs = append(errs, field.Invalid(specPath.Child("storageClassName"), sc, msg))
		}
	}
	errs = append(errs, validateSource(pv)...)
	return errs
}

// ValidateAccessModes checks a non-empty list of known modes, ReadWriteOncePod standing alone.
func ValidateAccessModes(modes []corev1.PersistentVolumeAccessMode, fldPath *field.Path) field.ErrorList {
	if len(modes) == 0 {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	for _, m := range modes {
		if !slices.Contains(supportedAccessModes, m) {
			errs = append(errs, field.NotSupported(fldPath, m, supportedAccessModes))
		}
	}
	if slices.Contains(modes, corev1.ReadWriteOncePod) && len(modes) > 1 {
		errs = append(errs, field.Forbidden(fldPath, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

// ValidateVolumeMode checks a set volume mode is one of the two kinds; volumes and claims share it
// because binding matches them by mode.
func ValidateVolumeMode(m *corev1.PersistentVolumeMode, fldPath *field.Path) field.ErrorList {
	if m != nil && !slices.Contains(supportedVolumeModes, *m) {
		return field.ErrorList{field.NotSupported(fldPath, *m, supportedVolumeModes)}
	}
	return nil
}

// validateSource requires exactly one volume source, found by walking the source struct's pointer
// fields so a source added to k8s.io/api is counted without a change here.
func validateSource(pv *corev1.PersistentVolume) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	var set []string
	v := reflect.ValueOf(pv.Spec.PersistentVolumeSource)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).Kind() == reflect.Pointer && !v.Field(i).IsNil() {
			set = append(set, strings.Split(v.Type().Field(i).Tag.Get("json"), ",")[0])
		}
	}
	switch {
	case len(set) == 0:
		return append(errs, field.Required(specPath, "must specify a volume type"))
	case len(set) > 1:
		for _, name := range set[1:] {
			errs = append(errs, field.Forbidden(specPath.Child(name), "may not specify more than 1 volume type"))
		}
	}
	src := pv.Spec.PersistentVolumeSource
	required := func(value string, p *field.Path) {
		if value == "" {
			errs = append(errs, field.Required(p, ""))
		}
	}
	if s := src.HostPath; s != nil {
		required(s.Path, specPath.Child("hostPath", "path"))
	}
	if s := src.Local; s != nil {
		required(s.Path, specPath.Child("local", "path"))
		if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(specPath.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	}
	if s := src.NFS; s != nil {
		required(s.Server, specPath.Child("nfs", "server"))
		required(s.Path, specPath.Child("nfs", "path"))
	}
	if s := src.CSI; s != nil {
		required(s.Driver, specPath.Child("csi", "driver"))
		required(s.VolumeHandle, specPath.Child("csi", "volumeHandle"))
	}
	return errs
}

func validateStatus(pv *corev1.PersistentVolume) field.ErrorList {
	if p := pv.Status.Phase; p != "" && !slices.Contains(supportedPhases, p) {
		return field.ErrorList{field.NotSupported(field.NewPath("status", "phase"), p, supportedPhases)}
	}
	return nil
}

// ValidateUpdate adds immutability of the volume source, the volume mode and a set node affinity.
func ValidateUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	errs := Validate(pv)
	if !equality.Semantic.DeepEqual(pv.Spec.PersistentVolumeSource, old.Spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
	}
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(pv.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("spec", "volumeMode"))...)
	if old.Spec.NodeAffinity != nil {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(pv.Spec.NodeAffinity, old.Spec.NodeAffinity, field.NewPath("spec", "nodeAffinity"))...)
	}
	return errs
}
