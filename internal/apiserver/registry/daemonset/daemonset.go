package daemonset

import (
	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/pod"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/rollout"
)

// Strategy returns the registry strategy of apps/v1 daemonsets. Only metadata is selectable.
func Strategy() registry.Strategy {
	return registry.Typed[*appsv1.DaemonSet]{
		Default:              Default,
		Validate:             Validate,
		ValidateUpdate:       ValidateUpdate,
		ValidateStatusUpdate: ValidateStatusUpdate,
	}.Strategy()
}

// Default applies the apps/v1 defaults; set values are kept.
func Default(ds *appsv1.DaemonSet) {
	u := &ds.Spec.UpdateStrategy
	if u.Type == "" {
		u.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if u.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if u.RollingUpdate == nil {
			u.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if u.RollingUpdate.MaxUnavailable == nil {
			u.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		}
		if u.RollingUpdate.MaxSurge == nil {
			u.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(0))
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		ds.Spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	pod.DefaultPodTemplateSpec(&ds.Spec.Template)
}

// Validate checks a daemonset's spec.
func Validate(ds *appsv1.DaemonSet) field.ErrorList {
	specPath := field.NewPath("spec")
	s := &ds.Spec
	errs := pod.ValidateTemplateSelector(s.Selector, &s.Template, "daemonset", specPath)
	errs = append(errs, pod.ValidatePodTemplateSpec(&s.Template, specPath.Child("template"))...)
	errs = append(errs, pod.ValidateLongRunningTemplate(&s.Template, "DaemonSet", specPath.Child("template"))...)
	errs = append(errs, rollout.ValidateMinReadyAndHistory(s.MinReadySeconds, s.RevisionHistoryLimit, specPath)...)
	up := specPath.Child("updateStrategy")
	switch u := s.UpdateStrategy; u.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if u.RollingUpdate == nil {
			errs = append(errs, field.Required(up.Child("rollingUpdate"), ""))
			break
		}
		errs = append(errs, rollout.ValidateSurgeAndUnavailable(u.RollingUpdate.MaxSurge, u.RollingUpdate.MaxUnavailable, true, up.Child("rollingUpdate"))...)
	case "":
		errs = append(errs, field.Required(up.Child("type"), ""))
	default:
		errs = append(errs, field.NotSupported(up.Child("type"), u.Type,
			[]appsv1.DaemonSetUpdateStrategyType{appsv1.OnDeleteDaemonSetStrategyType, appsv1.RollingUpdateDaemonSetStrategyType}))
	}
	return errs
}

// ValidateUpdate checks an update; the selector is fixed for the life of the object.
func ValidateUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := Validate(ds)
	return append(errs, apivalidation.ValidateImmutableField(ds.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
}

// ValidateStatusUpdate checks the counters the DaemonSet controller writes.
func ValidateStatusUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	st, p := &ds.Status, field.NewPath("status")
	var errs field.ErrorList
	for _, c := range []struct {
		name string
		v    int64
	}{
		{"currentNumberScheduled", int64(st.CurrentNumberScheduled)}, {"numberMisscheduled", int64(st.NumberMisscheduled)},
		{"desiredNumberScheduled", int64(st.DesiredNumberScheduled)}, {"numberReady", int64(st.NumberReady)},
		{"observedGeneration", st.ObservedGeneration}, {"updatedNumberScheduled", int64(st.UpdatedNumberScheduled)},
		{"numberAvailable", int64(st.NumberAvailable)}, {"numberUnavailable", int64(st.NumberUnavailable)},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(c.v, p.Child(c.name))...)
	}
	return append(errs, rollout.ValidateCollisionCount(st.CollisionCount, old.Status.CollisionCount, p.Child("collisionCount"))...)
}
