package limitrange

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

var supportedTypes = []corev1.LimitType{corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim}

// Strategy returns the LimitRange strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*corev1.LimitRange]{
		Default:        Default,
		Validate:       Validate,
		ValidateUpdate: registry.IgnoringOld(Validate),
	}.Strategy()
}

// Default applies the v1 defaults of Container items: the default limit falls back to the max,
// the default request to the default limit, then to the min.
func Default(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		if item.Default == nil {
			item.Default = corev1.ResourceList{}
		}
		if item.DefaultRequest == nil {
			item.DefaultRequest = corev1.ResourceList{}
		}
		for _, step := range []struct{ from, to corev1.ResourceList }{
			{item.Max, item.Default}, {item.Default, item.DefaultRequest}, {item.Min, item.DefaultRequest},
		} {
			for k, v := range step.from {
				if _, ok := step.to[k]; !ok {
					step.to[k] = v.DeepCopy()
				}
			}
		}
	}
}

// Validate checks every limit item.
func Validate(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	seenTypes := sets.New[corev1.LimitType]()
	for i, item := range lr.Spec.Limits {
		idx := field.NewPath("spec", "limits").Index(i)
		switch {
		case !slices.Contains(supportedTypes, item.Type):
			errs = append(errs, field.NotSupported(idx.Child("type"), item.Type, supportedTypes))
		case seenTypes.Has(item.Type):
			errs = append(errs, field.Duplicate(idx.Child("type"), item.Type))
		}
		seenTypes.Insert(item.Type)

		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				errs = append(errs, field.Forbidden(idx.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(idx.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		if item.Type == corev1.LimitTypePersistentVolumeClaim {
			if _, ok := item.Min[corev1.ResourceStorage]; !ok {
				if _, ok := item.Max[corev1.ResourceStorage]; !ok {
					errs = append(errs, field.Required(idx.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
				}
			}
		}

		names := sets.New[corev1.ResourceName]()
		for _, list := range []struct {
			name string
			rl   corev1.ResourceList
		}{{"max", item.Max}, {"min", item.Min}, {"default", item.Default}, {"defaultRequest", item.DefaultRequest},
			{"maxLimitRequestRatio", item.MaxLimitRequestRatio}} {
			for name, q := range list.rl {
				p := idx.Child(list.name).Key(string(name))
				if !names.Has(name) {
					errs = append(errs, validateResourceName(item.Type, string(name), p)...)
				}
				names.Insert(name)
				if q.Sign() < 0 {
					errs = append(errs, field.Invalid(p, q.String(), "must be greater than or equal to 0"))
				}
			}
		}
		for name := range names {
			errs = append(errs, validateOrder(item, name, idx)...)
		}
	}
	return errs
}

func validateResourceName(t corev1.LimitType, name string, fldPath *field.Path) field.ErrorList {
	if t == corev1.LimitTypePersistentVolumeClaim {
		if name != string(corev1.ResourceStorage) {
			return field.ErrorList{field.NotSupported(fldPath, name, []string{string(corev1.ResourceStorage)})}
		}
		return nil
	}
	var errs field.ErrorList
	for _, msg := range content.IsLabelKey(name) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	standard := name == "cpu" || name == "memory" || name == "ephemeral-storage" || strings.HasPrefix(name, "hugepages-")
	if len(errs) == 0 && !standard && !strings.Contains(name, "/") {
		errs = append(errs, field.Invalid(fldPath, name, "must be a standard limit type or fully qualified"))
	}
	return errs
}

// validateOrder enforces min <= defaultRequest <= default <= max and the limit/request ratio bounds
// for one resource.
func validateOrder(item corev1.LimitRangeItem, name corev1.ResourceName, idx *field.Path) field.ErrorList {
	var errs field.ErrorList
	get := func(rl corev1.ResourceList) (resource.Quantity, bool) { q, ok := rl[name]; return q, ok }
	minQ, hasMin := get(item.Min)
	maxQ, hasMax := get(item.Max)
	defQ, hasDef := get(item.Default)
	reqQ, hasReq := get(item.DefaultRequest)
	ratio, hasRatio := get(item.MaxLimitRequestRatio)
	key := string(name)

	if hasMin && hasMax && minQ.Cmp(maxQ) > 0 {
		errs = append(errs, field.Invalid(idx.Child("min").Key(key), minQ.String(), fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
	}
	if hasReq {
		if hasMin && minQ.Cmp(reqQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("defaultRequest").Key(key), reqQ.String(), fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), reqQ.String())))
		}
		if hasMax && reqQ.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("defaultRequest").Key(key), reqQ.String(), fmt.Sprintf("default request value %s is greater than max value %s", reqQ.String(), maxQ.String())))
		}
		if hasDef && reqQ.Cmp(defQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("defaultRequest").Key(key), reqQ.String(), fmt.Sprintf("default request value %s is greater than default limit value %s", reqQ.String(), defQ.String())))
		}
	}
	if hasDef {
		if hasMin && minQ.Cmp(defQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("default").Key(key), defQ.String(), fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), defQ.String())))
		}
		if hasMax && defQ.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("default").Key(key), defQ.String(), fmt.Sprintf("default value %s is greater than max value %s", defQ.String(), maxQ.String())))
		}
	}
	if hasRatio {
		ratioPath := idx.Child("maxLimitRequestRatio").Key(key)
		if ratio.Cmp(resource.MustParse("1")) < 0 {
			errs = append(errs, field.Invalid(ratioPath, ratio.String(), fmt.Sprintf("ratio %s is less than 1", ratio.String())))
		}
		if hasMin && hasMax && minQ.Sign() > 0 {
			limit := float64(maxQ.MilliValue()) / float64(minQ.MilliValue())
			if float64(ratio.MilliValue())/1000 > limit {
				errs = append(errs, field.Invalid(ratioPath, ratio.String(), fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limit)))
			}
		}
	}
	return errs
}
