package serviceaccount

import (
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// Strategy returns the ServiceAccount strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*corev1.ServiceAccount]{
		Validate:       Validate,
		ValidateUpdate: registry.IgnoringOld(Validate),
	}.Strategy()
}

// Validate checks that referenced secrets are named with valid secret names.
func Validate(sa *corev1.ServiceAccount) field.ErrorList {
	var errs field.ErrorList
	for i, ref := range sa.Secrets {
		errs = append(errs, validateSecretName(ref.Name, field.NewPath("secrets").Index(i).Child("name"))...)
	}
	for i, ref := range sa.ImagePullSecrets {
		errs = append(errs, validateSecretName(ref.Name, field.NewPath("imagePullSecrets").Index(i).Child("name"))...)
	}
	return errs
}

func validateSecretName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(name, false) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}
