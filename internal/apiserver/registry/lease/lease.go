package lease

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// Strategy returns the Lease strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*coordinationv1.Lease]{
		Validate:       Validate,
		ValidateUpdate: registry.IgnoringOld(Validate),
	}.Strategy()
}

// Validate checks a Lease's spec.
func Validate(l *coordinationv1.Lease) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if n := l.Spec.LeaseTransitions; n != nil && *n < 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseTransitions"), *n, "must be greater than or equal to 0"))
	}
	if s := l.Spec.Strategy; s != nil {
		for _, msg := range content.IsLabelKey(string(*s)) {
			errs = append(errs, field.Invalid(specPath.Child("strategy"), *s, msg))
		}
	}
	if l.Spec.PreferredHolder != nil && *l.Spec.PreferredHolder != "" && l.Spec.Strategy == nil {
		errs = append(errs, field.Forbidden(specPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}
