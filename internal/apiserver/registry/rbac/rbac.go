package rbac

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// RoleStrategy returns the Role strategy.
func RoleStrategy() registry.Strategy {
	validate := func(r *rbacv1.Role) field.ErrorList { return ValidateRules(r.Rules, true) }
	return registry.Typed[*rbacv1.Role]{
		Validate:       validate,
		ValidateUpdate: registry.IgnoringOld(validate),
	}.Strategy()
}

// ClusterRoleStrategy returns the ClusterRole strategy.
func ClusterRoleStrategy() registry.Strategy {
	return registry.Typed[*rbacv1.ClusterRole]{
		Validate:       ValidateClusterRole,
		ValidateUpdate: registry.IgnoringOld(ValidateClusterRole),
	}.Strategy()
}

// RoleBindingStrategy returns the RoleBinding strategy.
func RoleBindingStrategy() registry.Strategy {
	return bindingStrategy(func(b *rbacv1.RoleBinding) (*rbacv1.RoleRef, []rbacv1.Subject) { return &b.RoleRef, b.Subjects }, true)
}

// ClusterRoleBindingStrategy returns the ClusterRoleBinding strategy.
func ClusterRoleBindingStrategy() registry.Strategy {
	return bindingStrategy(func(b *rbacv1.ClusterRoleBinding) (*rbacv1.RoleRef, []rbacv1.Subject) { return &b.RoleRef, b.Subjects }, false)
}

// bindingStrategy serves both binding kinds, which differ only in their Go type and scope; parts
// reaches the role reference and subjects they share.
func bindingStrategy[T runtime.Object](parts func(T) (*rbacv1.RoleRef, []rbacv1.Subject), namespaced bool) registry.Strategy {
	validate := func(b T) field.ErrorList {
		ref, subjects := parts(b)
		return ValidateBinding(*ref, subjects, namespaced)
	}
	return registry.Typed[T]{
		Default:  func(b T) { DefaultBinding(parts(b)) },
		Validate: validate,
		ValidateUpdate: func(b, old T) field.ErrorList {
			errs := validate(b)
			ref, _ := parts(b)
			if oldRef, _ := parts(old); *ref != *oldRef {
				errs = append(errs, field.Invalid(field.NewPath("roleRef"), *ref, "cannot change roleRef"))
			}
			return errs
		},
	}.Strategy()
}

// DefaultBinding fills the API groups clients usually leave out: the role reference and User and
// Group subjects are in the RBAC group, ServiceAccount subjects in the core group.
func DefaultBinding(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		if subjects[i].APIGroup == "" && (subjects[i].Kind == rbacv1.UserKind || subjects[i].Kind == rbacv1.GroupKind) {
			subjects[i].APIGroup = rbacv1.GroupName
		}
	}
}

// ValidateRules checks each rule grants something: verbs always, and either resources (with API
// groups) or, for cluster roles only, non-resource URLs.
func ValidateRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		p := field.NewPath("rules").Index(i)
		if len(rule.Verbs) == 0 {
			errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(rule.NonResourceURLs) > 0 {
			if namespaced {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(rule.APIGroups) == 0 {
			errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(rule.Resources) == 0 {
			errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

// ValidateClusterRole checks rules and the aggregation rule's selectors.
func ValidateClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	errs := ValidateRules(r.Rules, false)
	if ar := r.AggregationRule; ar != nil {
		selPath := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(ar.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(selPath, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range ar.ClusterRoleSelectors {
			errs = append(errs, metav1validation.ValidateLabelSelector(&ar.ClusterRoleSelectors[i],
				metav1validation.LabelSelectorValidationOptions{}, selPath.Index(i))...)
		}
	}
	return errs
}

// ValidateBinding checks the role reference and subjects of a RoleBinding (namespaced) or
// ClusterRoleBinding.
func ValidateBinding(ref rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	refPath := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(refPath.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"ClusterRole"}
	if namespaced {
		kinds = []string{"Role", "ClusterRole"}
	}
	if !slices.Contains(kinds, ref.Kind) {
		errs = append(errs, field.NotSupported(refPath.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(refPath.Child("name"), ""))
	} else {
		for _, msg := range path.ValidatePathSegmentName(ref.Name, false) {
			errs = append(errs, field.Invalid(refPath.Child("name"), ref.Name, msg))
		}
	}
	for i, s := range subjects {
		errs = append(errs, validateSubject(s, namespaced, field.NewPath("subjects").Index(i))...)
	}
	return errs
}

func validateSubject(s rbacv1.Subject, namespaced bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(s.Name, false) {
				errs = append(errs, field.Invalid(fldPath.Child("name"), s.Name, msg))
			}
		}
		if s.APIGroup != "" {
			errs = append(errs, field.NotSupported(fldPath.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		if !namespaced && s.Namespace == "" {
			errs = append(errs, field.Required(fldPath.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(fldPath.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return errs
}
