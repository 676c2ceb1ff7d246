package resourcequota

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

var (
	standardQuotaResources = sets.New(
		"cpu", "memory", "ephemeral-storage",
		"requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage",
		"limits.cpu", "limits.memory", "limits.ephemeral-storage",
		"pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
		"persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
	)
	// integerResources are object counts: a fractional amount of them means nothing.
	integerResources = sets.New("pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
		"persistentvolumeclaims", "services.nodeports", "services.loadbalancers")

	supportedScopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
		corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopePriorityClass,
		corev1.ResourceQuotaScopeCrossNamespacePodAffinity, corev1.ResourceQuotaScopeVolumeAttributesClass}
	supportedOperators = []corev1.ScopeSelectorOperator{corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn,
		corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist}
)

// Strategy returns the ResourceQuota strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*corev1.ResourceQuota]{
		Validate:             Validate,
		ValidateUpdate:       registry.IgnoringOld(Validate),
		ValidateStatusUpdate: registry.IgnoringOld(validateStatus),
	}.Strategy()
}

func validateStatus(q *corev1.ResourceQuota) field.ErrorList {
	errs := validateResourceList(q.Status.Hard, field.NewPath("status", "hard"))
	return append(errs, validateResourceList(q.Status.Used, field.NewPath("status", "used"))...)
}

// Validate checks the hard limits and scopes.
func Validate(q *corev1.ResourceQuota) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := validateResourceList(q.Spec.Hard, specPath.Child("hard"))

	scopes := sets.New[corev1.ResourceQuotaScope]()
	for i, s := range q.Spec.Scopes {
		if !slices.Contains(supportedScopes, s) {
			errs = append(errs, field.NotSupported(specPath.Child("scopes").Index(i), s, supportedScopes))
		}
		scopes.Insert(s)
	}
	if ss := q.Spec.ScopeSelector; ss != nil {
		exprPath := specPath.Child("scopeSelector", "matchExpressions")
		for i, e := range ss.MatchExpressions {
			p := exprPath.Index(i)
			if !slices.Contains(supportedScopes, e.ScopeName) {
				errs = append(errs, field.NotSupported(p.Child("scopeName"), e.ScopeName, supportedScopes))
			}
			scopes.Insert(e.ScopeName)
			switch e.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(e.Values) == 0 {
					errs = append(errs, field.Required(p.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(e.Values) != 0 {
					errs = append(errs, field.Invalid(p.Child("values"), e.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				errs = append(errs, field.NotSupported(p.Child("operator"), e.Operator, supportedOperators))
			}
		}
	}
	for _, pair := range [][2]corev1.ResourceQuotaScope{
		{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating},
		{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort},
	} {
		if scopes.HasAll(pair[0], pair[1]) {
			errs = append(errs, field.Invalid(specPath.Child("scopes"), q.Spec.Scopes, "conflicting scopes"))
		}
	}
	return errs
}

func validateResourceList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, v := range list {
		p := fldPath.Key(string(name))
		errs = append(errs, validateResourceName(string(name), p)...)
		if v.Sign() < 0 {
			errs = append(errs, field.Invalid(p, v.String(), "must be greater than or equal to 0"))
		}
		if (integerResources.Has(string(name)) || strings.HasPrefix(string(name), "count/")) && v.MilliValue()%1000 != 0 {
			errs = append(errs, field.Invalid(p, v.String(), "must be an integer"))
		}
	}
	return errs
}

func validateResourceName(name string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range content.IsLabelKey(name) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	if len(errs) == 0 && !strings.Contains(name, "/") && !standardQuotaResources.Has(name) &&
		!strings.HasPrefix(name, "hugepages-") && !strings.HasPrefix(name, "requests.hugepages-") {
		errs = append(errs, field.Invalid(fldPath, name, "must be a standard resource for quota"))
	}
	return errs
}
