package priorityclass

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// Upstream's priority constants.
const (
	// HighestUserDefinablePriority is the largest value a class outside the system- prefix may have.
	HighestUserDefinablePriority = int32(1000000000)
	// SystemClusterCritical and SystemNodeCritical are the built-in classes' values.
	SystemClusterCritical = 2 * HighestUserDefinablePriority
	SystemNodeCritical    = SystemClusterCritical + 1000
	// SystemPriorityClassPrefix is reserved for the built-in classes.
	SystemPriorityClassPrefix = "system-"
)

// SystemPriorityClasses are the only classes allowed to use the system- prefix, with their values.
var SystemPriorityClasses = map[string]int32{
	"system-cluster-critical": SystemClusterCritical,
	"system-node-critical":    SystemNodeCritical,
}

var supportedPreemptionPolicies = []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}

// Strategy returns the PriorityClass strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*schedulingv1.PriorityClass]{
		Default:        Default,
		Validate:       Validate,
		ValidateUpdate: ValidateUpdate,
	}.Strategy()
}

// Default sets preemptionPolicy PreemptLowerPriority, as upstream.
func Default(pc *schedulingv1.PriorityClass) {
	if pc.PreemptionPolicy == nil {
		p := corev1.PreemptLowerPriority
		pc.PreemptionPolicy = &p
	}
}

// Validate checks the value against the name's class (system or user) and the preemption policy.
func Validate(pc *schedulingv1.PriorityClass) field.ErrorList {
	var errs field.ErrorList
	if strings.HasPrefix(pc.Name, SystemPriorityClassPrefix) {
		if err := checkSystemClass(pc); err != "" {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				"priority class names with '"+SystemPriorityClassPrefix+"' prefix are reserved for system use only. error: "+err))
		}
	} else if pc.Value > HighestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"),
			fmt.Sprintf("maximum allowed value of a user defined priority is %v", HighestUserDefinablePriority)))
	}
	if p := pc.PreemptionPolicy; p != nil && !slices.Contains(supportedPreemptionPolicies, *p) {
		errs = append(errs, field.NotSupported(field.NewPath("preemptionPolicy"), *p, supportedPreemptionPolicies))
	}
	return errs
}

func checkSystemClass(pc *schedulingv1.PriorityClass) string {
	want, ok := SystemPriorityClasses[pc.Name]
	switch {
	case !ok:
		return fmt.Sprintf("%v is not a known system priority class", pc.Name)
	case pc.Value != want:
		return fmt.Sprintf("value of %v PriorityClass must be %v", pc.Name, want)
	case pc.GlobalDefault:
		return fmt.Sprintf("globalDefault of %v PriorityClass must be false", pc.Name)
	}
	return ""
}

// ValidateUpdate keeps value and preemption policy fixed: pods already carry the resolved priority.
func ValidateUpdate(pc, old *schedulingv1.PriorityClass) field.ErrorList {
	errs := Validate(pc)
	if pc.Value != old.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(pc.PreemptionPolicy, old.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	return errs
}
