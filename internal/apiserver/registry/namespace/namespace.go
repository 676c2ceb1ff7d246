package namespace

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// NameLabel is the label upstream keeps equal to the namespace's name, so namespaces can be
// selected by name with a label selector (network policies do).
const NameLabel = "kubernetes.io/metadata.name"

// Strategy returns the Namespace strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*corev1.Namespace]{
		Default: Default,
		PrepareForCreate: func(ns *corev1.Namespace) {
			ns.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
			ns.Status.Phase = corev1.NamespaceActive
		},
		PrepareForUpdate: func(ns, old *corev1.Namespace) {
			// spec.finalizers belongs to the finalize subresource; a plain update keeps it.
			ns.Spec.Finalizers = append([]corev1.FinalizerName(nil), old.Spec.Finalizers...)
		},
		Validate:             Validate,
		ValidateUpdate:       registry.IgnoringOld(Validate),
		ValidateStatusUpdate: registry.IgnoringOld(ValidateStatus),
		PrepareForDelete:     func(ns *corev1.Namespace) { ns.Status.Phase = corev1.NamespaceTerminating },
		// The namespace controller empties spec.finalizers once the namespace's content is gone.
		Held: func(ns *corev1.Namespace) bool { return len(ns.Spec.Finalizers) > 0 },
	}.Strategy()
}

// Default sets the name label (always, overriding a client's value, as upstream does) and the
// Active phase.
func Default(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[NameLabel] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// Validate checks the name is a DNS label and the spec finalizers are well formed.
func Validate(ns *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	if ns.Name != "" {
		for _, msg := range apimachineryvalidation.ValidateNamespaceName(ns.Name, false) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), ns.Name, msg))
		}
	}
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, validateFinalizerName(string(f), field.NewPath("spec", "finalizers").Index(i))...)
	}
	return errs
}

func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range content.IsLabelKey(name) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	if len(errs) == 0 && !strings.Contains(name, "/") && name != string(corev1.FinalizerKubernetes) {
		errs = append(errs, field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}

// ValidateStatus checks the phase agrees with the deletion state.
func ValidateStatus(ns *corev1.Namespace) field.ErrorList {
	phasePath := field.NewPath("status", "phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			return field.ErrorList{field.Invalid(phasePath, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty")}
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		return field.ErrorList{field.Invalid(phasePath, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")}
	}
	return nil
}
