package pod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateTemplateSelector checks the selector of a workload that owns the pods stamped from its
// template (spec.selector and spec.template under specPath): the selector is required, must select
// something, and must select the template's own pods, or the controller would create pods forever.
// kind names the workload in messages ("deployment").
func ValidateTemplateSelector(selector *metav1.LabelSelector, template *corev1.PodTemplateSpec, kind string, specPath *field.Path) field.ErrorList {
	selPath := specPath.Child("selector")
	if selector == nil {
		return field.ErrorList{field.Required(selPath, "")}
	}
	errs := metav1validation.ValidateLabelSelector(selector, metav1validation.LabelSelectorValidationOptions{}, selPath)
	if len(selector.MatchLabels)+len(selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(selPath, selector, fmt.Sprintf("empty selector is invalid for %s", kind)))
	}
	if len(errs) > 0 {
		return errs
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return append(errs, field.Invalid(selPath, selector, "invalid label selector"))
	}
	if !sel.Matches(labels.Set(template.Labels)) {
		errs = append(errs, field.Invalid(specPath.Child("template", "metadata", "labels"), template.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

// ValidateLongRunningTemplate checks what a template of a workload whose pods should run forever
// (ReplicaSet, Deployment, StatefulSet, DaemonSet) may not say: a restart policy other than Always,
// or a deadline after which the pod is killed. kind names the workload in messages ("ReplicaSet").
func ValidateLongRunningTemplate(template *corev1.PodTemplateSpec, kind string, templatePath *field.Path) field.ErrorList {
	var errs field.ErrorList
	specPath := templatePath.Child("spec")
	if template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(specPath.Child("restartPolicy"), template.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if template.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(specPath.Child("activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return errs
}
