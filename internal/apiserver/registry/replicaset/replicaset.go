package replicaset

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/pod"
)

// Strategy returns the registry strategy of apps/v1 replicasets.
func Strategy() registry.Strategy {
	return registry.Typed[*appsv1.ReplicaSet]{
		Default:        Default,
		Validate:       Validate,
		ValidateUpdate: ValidateUpdate,
		ValidateStatusUpdate: func(rs, _ *appsv1.ReplicaSet) field.ErrorList {
			return ValidateStatus(&rs.Status)
		},
		SelectableFields: func(rs *appsv1.ReplicaSet) fields.Set {
			return fields.Set{"status.replicas": strconv.Itoa(int(rs.Status.Replicas))}
		},
	}.Strategy()
}

// Default applies the apps/v1 defaults; set values are kept.
func Default(rs *appsv1.ReplicaSet) {
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = ptr.To[int32](1)
	}
	pod.DefaultPodTemplateSpec(&rs.Spec.Template)
}

// Validate checks a replicaset's spec.
func Validate(rs *appsv1.ReplicaSet) field.ErrorList {
	specPath := field.NewPath("spec")
	s := &rs.Spec
	var errs field.ErrorList
	if s.Replicas != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*s.Replicas), specPath.Child("replicas"))...)
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(s.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, pod.ValidateTemplateSelector(s.Selector, &s.Template, "replicaset", specPath)...)
	errs = append(errs, pod.ValidatePodTemplateSpec(&s.Template, specPath.Child("template"))...)
	errs = append(errs, pod.ValidateLongRunningTemplate(&s.Template, "ReplicaSet", specPath.Child("template"))...)
	return errs
}

// ValidateUpdate checks an update; apps/v1 fixed the selector for the life of the object.
func ValidateUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := Validate(rs)
	return append(errs, apivalidation.ValidateImmutableField(rs.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
}

// ValidateStatus checks the counters the ReplicaSet controller writes.
func ValidateStatus(st *appsv1.ReplicaSetStatus) field.ErrorList {
	p := field.NewPath("status")
	var errs field.ErrorList
	for _, c := range []struct {
		name string
		v    int64
	}{
		{"replicas", int64(st.Replicas)}, {"fullyLabeledReplicas", int64(st.FullyLabeledReplicas)}, {"readyReplicas", int64(st.ReadyReplicas)},
		{"availableReplicas", int64(st.AvailableReplicas)}, {"observedGeneration", st.ObservedGeneration},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(c.v, p.Child(c.name))...)
	}
	if st.TerminatingReplicas != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*st.TerminatingReplicas), p.Child("terminatingReplicas"))...)
	}
	for _, c := range []struct {
		name string
		v    int32
	}{{"fullyLabeledReplicas", st.FullyLabeledReplicas}, {"readyReplicas", st.ReadyReplicas}, {"availableReplicas", st.AvailableReplicas}} {
		if c.v > st.Replicas {
			errs = append(errs, field.Invalid(p.Child(c.name), c.v, "cannot be greater than status.replicas"))
		}
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}
