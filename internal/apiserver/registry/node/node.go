package node

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

var supportedEffects = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}

// Strategy returns the Node strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*corev1.Node]{
		Default:              Default,
		Validate:             Validate,
		ValidateUpdate:       ValidateUpdate,
		ValidateStatusUpdate: registry.IgnoringOld(validateStatus),
		SelectableFields: func(n *corev1.Node) fields.Set {
			return fields.Set{"spec.unschedulable": strconv.FormatBool(n.Spec.Unschedulable)}
		},
	}.Strategy()
}

// Default makes allocatable equal capacity when a kubelet reports no reservation, as upstream.
func Default(n *corev1.Node) {
	if n.Status.Allocatable == nil && len(n.Status.Capacity) > 0 {
		n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	}
}

// Validate checks spec and status of a node.
func Validate(n *corev1.Node) field.ErrorList {
	errs := validateSpec(n)
	return append(errs, validateStatus(n)...)
}

func validateSpec(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	cidrsPath := specPath.Child("podCIDRs")
	if len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(specPath.Child("podCIDR"), n.Spec.PodCIDR, "must match first value in spec.podCIDRs"))
	}
	if n.Spec.PodCIDR != "" && len(n.Spec.PodCIDRs) == 0 {
		errs = append(errs, validation.IsValidCIDR(specPath.Child("podCIDR"), n.Spec.PodCIDR)...)
	}
	if len(n.Spec.PodCIDRs) > 2 {
		errs = append(errs, field.Invalid(cidrsPath, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	var v4, v6 int
	for i, cidr := range n.Spec.PodCIDRs {
		cidrErrs := validation.IsValidCIDR(cidrsPath.Index(i), cidr)
		errs = append(errs, cidrErrs...)
		if len(cidrErrs) == 0 {
			if p, err := netip.ParsePrefix(cidr); err == nil && p.Addr().Is4() {
				v4++
			} else {
				v6++
			}
		}
	}
	if v4 > 1 || v6 > 1 {
		errs = append(errs, field.Invalid(cidrsPath, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}

	type keyEffect struct {
		key    string
		effect corev1.TaintEffect
	}
	seen := map[keyEffect]bool{}
	for i, t := range n.Spec.Taints {
		p := specPath.Child("taints").Index(i)
		if t.Key == "" {
			errs = append(errs, field.Required(p.Child("key"), ""))
		} else {
			for _, msg := range content.IsLabelKey(t.Key) {
				errs = append(errs, field.Invalid(p.Child("key"), t.Key, msg))
			}
		}
		for _, msg := range content.IsLabelValue(t.Value) {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, msg))
		}
		switch {
		case t.Effect == "":
			errs = append(errs, field.Required(p.Child("effect"), ""))
		case !slices.Contains(supportedEffects, t.Effect):
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, supportedEffects))
		}
		k := keyEffect{t.Key, t.Effect}
		if seen[k] {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("%s:%s", t.Key, t.Effect)))
		}
		seen[k] = true
	}
	return errs
}

func validateStatus(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	for _, rl := range []struct {
		name string
		list corev1.ResourceList
	}{{"capacity", n.Status.Capacity}, {"allocatable", n.Status.Allocatable}} {
		for name, q := range rl.list {
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(field.NewPath("status", rl.name).Key(string(name)), q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	for i, a := range n.Status.Addresses {
		if a.Type == "" {
			errs = append(errs, field.Required(field.NewPath("status", "addresses").Index(i).Child("type"), ""))
		}
	}
	return errs
}

// ValidateUpdate adds the set-once rules: pod CIDRs and provider ID go from empty to a value and
// then never change, because routes and cloud resources were built from them.
func ValidateUpdate(n, old *corev1.Node) field.ErrorList {
	errs := Validate(n)
	if len(old.Spec.PodCIDRs) > 0 && !slices.Equal(old.Spec.PodCIDRs, n.Spec.PodCIDRs) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != n.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}
