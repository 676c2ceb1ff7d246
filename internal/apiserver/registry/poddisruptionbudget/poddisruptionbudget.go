package poddisruptionbudget

import (
	"slices"
	"strconv"
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

var supportedEvictionPolicies = []policyv1.UnhealthyPodEvictionPolicyType{policyv1.IfHealthyBudget, policyv1.AlwaysAllow}

// Strategy returns the PodDisruptionBudget strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*policyv1.PodDisruptionBudget]{
		Validate:             Validate,
		ValidateUpdate:       registry.IgnoringOld(Validate),
		ValidateStatusUpdate: registry.IgnoringOld(ValidateStatus),
	}.Strategy()
}

// Validate checks a PodDisruptionBudget's spec.
func Validate(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	if pdb.Spec.MinAvailable != nil && pdb.Spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(specPath, pdb.Spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if v := pdb.Spec.MinAvailable; v != nil {
		errs = append(errs, validateIntOrPercent(*v, specPath.Child("minAvailable"))...)
	}
	if v := pdb.Spec.MaxUnavailable; v != nil {
		errs = append(errs, validateIntOrPercent(*v, specPath.Child("maxUnavailable"))...)
	}
	if pdb.Spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(pdb.Spec.Selector,
			metav1validation.LabelSelectorValidationOptions{}, specPath.Child("selector"))...)
	}
	if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && !slices.Contains(supportedEvictionPolicies, *p) {
		errs = append(errs, field.NotSupported(specPath.Child("unhealthyPodEvictionPolicy"), *p, supportedEvictionPolicies))
	}
	return errs
}

func validateIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return field.ErrorList{field.Invalid(fldPath, v.IntVal, "must be greater than or equal to 0")}
		}
		return nil
	}
	if len(validation.IsValidPercent(v.StrVal)) > 0 {
		return field.ErrorList{field.Invalid(fldPath, v.StrVal, "must be an integer or percentage (e.g '5%')")}
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%")); err == nil && n > 100 {
		return field.ErrorList{field.Invalid(fldPath, v.StrVal, "must not be greater than 100%")}
	}
	return nil
}

// ValidateStatus checks the controller's counters.
func ValidateStatus(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	var errs field.ErrorList
	statusPath := field.NewPath("status")
	for _, c := range []struct {
		name  string
		value int32
	}{{"disruptionsAllowed", pdb.Status.DisruptionsAllowed}, {"currentHealthy", pdb.Status.CurrentHealthy},
		{"desiredHealthy", pdb.Status.DesiredHealthy}, {"expectedPods", pdb.Status.ExpectedPods}} {
		if c.value < 0 {
			errs = append(errs, field.Invalid(statusPath.Child(c.name), c.value, "must be greater than or equal to 0"))
		}
	}
	return append(errs, metav1validation.ValidateConditions(pdb.Status.Conditions, statusPath.Child("conditions"))...)
}
