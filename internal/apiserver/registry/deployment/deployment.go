package deployment

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

// Strategy returns the registry strategy of apps/v1 deployments. Only metadata is selectable.
func Strategy() registry.Strategy {
	return registry.Typed[*appsv1.Deployment]{
		Default:              Default,
		Validate:             Validate,
		ValidateUpdate:       ValidateUpdate,
		ValidateStatusUpdate: ValidateStatusUpdate,
	}.Strategy()
}

// Default applies the apps/v1 defaults; set values are kept.
func Default(d *appsv1.Deployment) {
	s := &d.Spec
	if s.Replicas == nil {
		s.Replicas = ptr.To[int32](1)
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if s.Strategy.RollingUpdate.MaxUnavailable == nil {
			s.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("25%"))
		}
		if s.Strategy.RollingUpdate.MaxSurge == nil {
			s.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("25%"))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr.To[int32](10)
	}
	if s.ProgressDeadlineSeconds == nil {
		s.ProgressDeadlineSeconds = ptr.To[int32](600)
	}
	pod.DefaultPodTemplateSpec(&s.Template)
}

// Validate checks a deployment's spec.
func Validate(d *appsv1.Deployment) field.ErrorList {
	specPath := field.NewPath("spec")
	s := &d.Spec
	var errs field.ErrorList
	if s.Replicas != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*s.Replicas), specPath.Child("replicas"))...)
	}
	errs = append(errs, pod.ValidateTemplateSelector(s.Selector, &s.Template, "deployment", specPath)...)
	errs = append(errs, pod.ValidatePodTemplateSpec(&s.Template, specPath.Child("template"))...)
	errs = append(errs, pod.ValidateLongRunningTemplate(&s.Template, "ReplicaSet", specPath.Child("template"))...)
	errs = append(errs, validateStrategy(&s.Strategy, specPath.Child("strategy"))...)
	errs = append(errs, rollout.ValidateMinReadyAndHistory(s.MinReadySeconds, s.RevisionHistoryLimit, specPath)...)
	if p := s.ProgressDeadlineSeconds; p != nil {
		pp := specPath.Child("progressDeadlineSeconds")
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*p), pp)...)
		// Progress is measured after pods become available; a deadline inside minReadySeconds could
		// never be met.
		if *p <= s.MinReadySeconds {
			errs = append(errs, field.Invalid(pp, *p, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateStrategy(st *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	switch st.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if st.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if st.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		return rollout.ValidateSurgeAndUnavailable(st.RollingUpdate.MaxSurge, st.RollingUpdate.MaxUnavailable, false, fldPath.Child("rollingUpdate"))
	case "":
		return field.ErrorList{field.Required(fldPath.Child("type"), "")}
	default:
		return field.ErrorList{field.NotSupported(fldPath.Child("type"), st.Type,
			[]appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType})}
	}
	return nil
}

// ValidateUpdate checks an update: the new spec must be valid and the selector may not change, since
// the ReplicaSets and pods already created would be orphaned.
func ValidateUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := Validate(d)
	errs = append(errs, apivalidation.ValidateImmutableField(d.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
	return errs
}

// ValidateStatusUpdate checks the counters the deployment controller writes.
func ValidateStatusUpdate(d, old *appsv1.Deployment) field.ErrorList {
	st, p := &d.Status, field.NewPath("status")
	var errs field.ErrorList
	for _, c := range []struct {
		name string
		v    int64
	}{
		{"observedGeneration", st.ObservedGeneration}, {"replicas", int64(st.Replicas)}, {"updatedReplicas", int64(st.UpdatedReplicas)},
		{"readyReplicas", int64(st.ReadyReplicas)}, {"availableReplicas", int64(st.AvailableReplicas)}, {"unavailableReplicas", int64(st.UnavailableReplicas)},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(c.v, p.Child(c.name))...)
	}
	if st.TerminatingReplicas != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*st.TerminatingReplicas), p.Child("terminatingReplicas"))...)
	}
	if st.UpdatedReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("updatedReplicas"), st.UpdatedReplicas, "cannot be greater than status.replicas"))
	}
	if st.AvailableReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than status.replicas"))
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	errs = append(errs, rollout.ValidateCollisionCount(st.CollisionCount, old.Status.CollisionCount, p.Child("collisionCount"))...)
	return errs
}
