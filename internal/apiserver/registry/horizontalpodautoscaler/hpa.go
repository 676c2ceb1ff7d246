package horizontalpodautoscaler

import (
	"context"
	"fmt"
	"slices"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// Upstream's bounds on behavior rules.
const (
	maxPeriodSeconds              = 1800
	maxStabilizationWindowSeconds = 3600
	defaultScaleDownWindowSeconds = 300
	defaultPolicyPeriodSeconds    = 15
)

var (
	supportedMetricTypes = []autoscalingv2.MetricSourceType{autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType,
		autoscalingv2.ResourceMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType}
	supportedTargetTypes = []autoscalingv2.MetricTargetType{autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType,
		autoscalingv2.AverageValueMetricType}
	supportedSelectPolicies = []autoscalingv2.ScalingPolicySelect{autoscalingv2.MaxChangePolicySelect,
		autoscalingv2.MinChangePolicySelect, autoscalingv2.DisabledPolicySelect}
	supportedPolicyTypes = []autoscalingv2.HPAScalingPolicyType{autoscalingv2.PodsScalingPolicy, autoscalingv2.PercentScalingPolicy}
)

// Strategy returns the HPA strategy. Its hooks accept the stored *autoscalingv2 object and the
// served *autoscalingv1 object alike; a v1 object is validated through its v2 form, with the CPU
// target reported at its v1 path.
func Strategy() registry.Strategy {
	validate := func(_ context.Context, obj runtime.Object) field.ErrorList {
		switch h := obj.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			return Validate(h)
		case *autoscalingv1.HorizontalPodAutoscaler:
			return validateV1(h)
		}
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected a HorizontalPodAutoscaler, got %T", obj))}
	}
	return registry.Strategy{
		Default: func(obj runtime.Object) {
			switch h := obj.(type) {
			case *autoscalingv2.HorizontalPodAutoscaler:
				Default(h)
			case *autoscalingv1.HorizontalPodAutoscaler:
				DefaultV1(h)
			}
		},
		Validate:       validate,
		ValidateUpdate: func(ctx context.Context, obj, _ runtime.Object) field.ErrorList { return validate(ctx, obj) },
		ValidateStatusUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
			switch h := obj.(type) {
			case *autoscalingv2.HorizontalPodAutoscaler:
				return validateStatus(h.Status.CurrentReplicas, h.Status.DesiredReplicas)
			case *autoscalingv1.HorizontalPodAutoscaler:
				return validateStatus(h.Status.CurrentReplicas, h.Status.DesiredReplicas)
			}
			return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected a HorizontalPodAutoscaler, got %T", obj))}
		},
	}
}

// DefaultV1 applies autoscaling/v1's only default; the CPU target is left unset, as v1 leaves it
// (the conversion to v2 supplies it).
func DefaultV1(h *autoscalingv1.HorizontalPodAutoscaler) {
	if h.Spec.MinReplicas == nil {
		one := int32(1)
		h.Spec.MinReplicas = &one
	}
}

// Default applies autoscaling/v2's defaults: minReplicas 1, an 80% CPU target when no metric is
// named, and, when a behavior is given, upstream's rules for whatever it leaves out. It also drops
// the v1 round-trip annotations, which a v2 object never carries.
func Default(h *autoscalingv2.HorizontalPodAutoscaler) {
	if h.Spec.MinReplicas == nil {
		one := int32(1)
		h.Spec.MinReplicas = &one
	}
	if len(h.Spec.Metrics) == 0 {
		h.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(DefaultCPUUtilization)}
	}
	if b := h.Spec.Behavior; b != nil {
		b.ScaleUp = defaultRules(b.ScaleUp, 0, autoscalingv2.MaxChangePolicySelect, []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: defaultPolicyPeriodSeconds},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: defaultPolicyPeriodSeconds},
		})
		b.ScaleDown = defaultRules(b.ScaleDown, defaultScaleDownWindowSeconds, autoscalingv2.MaxChangePolicySelect, []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: defaultPolicyPeriodSeconds},
		})
	}
	h.Annotations = DropRoundTripAnnotations(h.Annotations)
}

func defaultRules(r *autoscalingv2.HPAScalingRules, window int32, sel autoscalingv2.ScalingPolicySelect, policies []autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
	if r == nil {
		r = &autoscalingv2.HPAScalingRules{}
	}
	if r.StabilizationWindowSeconds == nil {
		r.StabilizationWindowSeconds = &window
	}
	if r.SelectPolicy == nil {
		r.SelectPolicy = &sel
	}
	if r.Policies == nil {
		r.Policies = policies
	}
	return r
}

func validateV1(h *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	var errs field.ErrorList
	if t := h.Spec.TargetCPUUtilizationPercentage; t != nil && *t < 1 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "targetCPUUtilizationPercentage"), *t, "must be greater than 0"))
	}
	cp := h.DeepCopy()
	cp.Spec.TargetCPUUtilizationPercentage = nil
	v2, err := ToV2(cp)
	if err != nil {
		return append(errs, field.Invalid(field.NewPath("metadata", "annotations"), "", err.Error()))
	}
	return append(errs, Validate(v2)...)
}

// Validate checks an autoscaling/v2 HPA.
func Validate(h *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := validateCrossVersionRef(h.Spec.ScaleTargetRef, specPath.Child("scaleTargetRef"))
	if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas < 1 {
		errs = append(errs, field.Invalid(specPath.Child("minReplicas"), *h.Spec.MinReplicas, "must be greater than or equal to 1"))
	}
	if h.Spec.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), h.Spec.MaxReplicas, "must be greater than 0"))
	}
	if h.Spec.MinReplicas != nil && h.Spec.MaxReplicas < *h.Spec.MinReplicas {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), h.Spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	for i, m := range h.Spec.Metrics {
		errs = append(errs, validateMetricSpec(m, specPath.Child("metrics").Index(i))...)
	}
	if b := h.Spec.Behavior; b != nil {
		errs = append(errs, validateRules(b.ScaleUp, specPath.Child("behavior", "scaleUp"))...)
		errs = append(errs, validateRules(b.ScaleDown, specPath.Child("behavior", "scaleDown"))...)
	}
	return errs
}

func validateCrossVersionRef(ref autoscalingv2.CrossVersionObjectReference, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(value, name string) {
		if value == "" {
			errs = append(errs, field.Required(fldPath.Child(name), ""))
			return
		}
		for _, msg := range path.IsValidPathSegmentName(value) {
			errs = append(errs, field.Invalid(fldPath.Child(name), value, msg))
		}
	}
	check(ref.Kind, "kind")
	check(ref.Name, "name")
	return errs
}

func validateMetricSpec(m autoscalingv2.MetricSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	present := map[autoscalingv2.MetricSourceType]string{}
	if m.Object != nil {
		present[autoscalingv2.ObjectMetricSourceType] = "object"
	}
	if m.Pods != nil {
		present[autoscalingv2.PodsMetricSourceType] = "pods"
	}
	if m.Resource != nil {
		present[autoscalingv2.ResourceMetricSourceType] = "resource"
	}
	if m.ContainerResource != nil {
		present[autoscalingv2.ContainerResourceMetricSourceType] = "containerResource"
	}
	if m.External != nil {
		present[autoscalingv2.ExternalMetricSourceType] = "external"
	}
	switch {
	case m.Type == "":
		return append(errs, field.Required(fldPath.Child("type"), "must specify a metric source type"))
	case !slices.Contains(supportedMetricTypes, m.Type):
		return append(errs, field.NotSupported(fldPath.Child("type"), m.Type, supportedMetricTypes))
	}
	if _, ok := present[m.Type]; !ok {
		child := map[autoscalingv2.MetricSourceType]string{autoscalingv2.ObjectMetricSourceType: "object", autoscalingv2.PodsMetricSourceType: "pods",
			autoscalingv2.ResourceMetricSourceType: "resource", autoscalingv2.ContainerResourceMetricSourceType: "containerResource",
			autoscalingv2.ExternalMetricSourceType: "external"}[m.Type]
		errs = append(errs, field.Required(fldPath.Child(child), "must populate information for the given metric source"))
	}
	for t, name := range present {
		if t != m.Type {
			errs = append(errs, field.Forbidden(fldPath.Child(name), "must populate the given metric source only"))
		}
	}
	if s := m.Object; s != nil {
		p := fldPath.Child("object")
		errs = append(errs, validateCrossVersionRef(s.DescribedObject, p.Child("describedObject"))...)
		errs = append(errs, validateMetricIdentifier(s.Metric, p.Child("metric"))...)
		errs = append(errs, validateTarget(s.Target, p.Child("target"))...)
		if s.Target.Value == nil && s.Target.AverageValue == nil {
			errs = append(errs, field.Required(p.Child("target", "value"), "must set either a target value or averageValue"))
		}
	}
	if s := m.Pods; s != nil {
		p := fldPath.Child("pods")
		errs = append(errs, validateMetricIdentifier(s.Metric, p.Child("metric"))...)
		errs = append(errs, validateTarget(s.Target, p.Child("target"))...)
		if s.Target.AverageValue == nil {
			errs = append(errs, field.Required(p.Child("target", "averageValue"), "must specify a positive target averageValue"))
		}
	}
	if s := m.Resource; s != nil {
		errs = append(errs, validateResourceMetric(string(s.Name), s.Target, fldPath.Child("resource"))...)
	}
	if s := m.ContainerResource; s != nil {
		p := fldPath.Child("containerResource")
		errs = append(errs, validateResourceMetric(string(s.Name), s.Target, p)...)
		if s.Container == "" {
			errs = append(errs, field.Required(p.Child("container"), "must specify a container"))
		}
	}
	if s := m.External; s != nil {
		p := fldPath.Child("external")
		errs = append(errs, validateMetricIdentifier(s.Metric, p.Child("metric"))...)
		errs = append(errs, validateTarget(s.Target, p.Child("target"))...)
		if s.Target.Value == nil && s.Target.AverageValue == nil {
			errs = append(errs, field.Required(p.Child("target", "averageValue"), "must set either a target value for metric or a per-pod target"))
		}
	}
	return errs
}

func validateResourceMetric(name string, t autoscalingv2.MetricTarget, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), "must specify a resource name"))
	}
	errs = append(errs, validateTarget(t, fldPath.Child("target"))...)
	switch {
	case t.AverageUtilization == nil && t.AverageValue == nil:
		errs = append(errs, field.Required(fldPath.Child("target", "averageUtilization"), "must set either a target raw value or a target utilization"))
	case t.AverageUtilization != nil && t.AverageValue != nil:
		errs = append(errs, field.Forbidden(fldPath.Child("target", "averageValue"), "may not set both a target raw value and a target utilization"))
	}
	return errs
}

func validateMetricIdentifier(id autoscalingv2.MetricIdentifier, fldPath *field.Path) field.ErrorList {
	if id.Name == "" {
		return field.ErrorList{field.Required(fldPath.Child("name"), "must specify a metric name")}
	}
	var errs field.ErrorList
	for _, msg := range path.IsValidPathSegmentName(id.Name) {
		errs = append(errs, field.Invalid(fldPath.Child("name"), id.Name, msg))
	}
	return errs
}

func validateTarget(t autoscalingv2.MetricTarget, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case t.Type == "":
		errs = append(errs, field.Required(fldPath.Child("type"), "must specify a metric target type"))
	case !slices.Contains(supportedTargetTypes, t.Type):
		errs = append(errs, field.NotSupported(fldPath.Child("type"), t.Type, supportedTargetTypes))
	}
	if t.Value != nil && t.Value.Sign() != 1 {
		errs = append(errs, field.Invalid(fldPath.Child("value"), t.Value.String(), "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() != 1 {
		errs = append(errs, field.Invalid(fldPath.Child("averageValue"), t.AverageValue.String(), "must be positive"))
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		errs = append(errs, field.Invalid(fldPath.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
	}
	return errs
}

func validateRules(r *autoscalingv2.HPAScalingRules, fldPath *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil {
		if *w < 0 {
			errs = append(errs, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w, "must be greater than or equal to zero"))
		} else if *w > maxStabilizationWindowSeconds {
			errs = append(errs, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w,
				fmt.Sprintf("must be less than or equal to %v", maxStabilizationWindowSeconds)))
		}
	}
	if r.SelectPolicy != nil && !slices.Contains(supportedSelectPolicies, *r.SelectPolicy) {
		errs = append(errs, field.NotSupported(fldPath.Child("selectPolicy"), *r.SelectPolicy, supportedSelectPolicies))
	}
	if len(r.Policies) == 0 {
		errs = append(errs, field.Required(fldPath.Child("policies"), "must specify at least one Policy"))
	}
	for i, p := range r.Policies {
		pp := fldPath.Child("policies").Index(i)
		if !slices.Contains(supportedPolicyTypes, p.Type) {
			errs = append(errs, field.NotSupported(pp.Child("type"), p.Type, supportedPolicyTypes))
		}
		if p.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), p.Value, "must be greater than zero"))
		}
		if p.PeriodSeconds <= 0 {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), p.PeriodSeconds, "must be greater than zero"))
		} else if p.PeriodSeconds > maxPeriodSeconds {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), p.PeriodSeconds,
				fmt.Sprintf("must be less than or equal to %v", maxPeriodSeconds)))
		}
	}
	return errs
}

func validateStatus(current, desired int32) field.ErrorList {
	var errs field.ErrorList
	statusPath := field.NewPath("status")
	if current < 0 {
		errs = append(errs, field.Invalid(statusPath.Child("currentReplicas"), current, "must be greater than or equal to 0"))
	}
	if desired < 0 {
		errs = append(errs, field.Invalid(statusPath.Child("desiredReplicas"), desired, "must be greater than or equal to 0"))
	}
	return errs
}
