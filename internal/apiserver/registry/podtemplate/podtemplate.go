package podtemplate

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/pod"
)

// Strategy returns the registry strategy of core/v1 podtemplates. Every field may change on update; no
// status, and only metadata is selectable.
func Strategy() registry.Strategy {
	validate := func(pt *corev1.PodTemplate) field.ErrorList {
		return pod.ValidatePodTemplateSpec(&pt.Template, field.NewPath("template"))
	}
	return registry.Typed[*corev1.PodTemplate]{
		Default:        func(pt *corev1.PodTemplate) { pod.DefaultPodTemplateSpec(&pt.Template) },
		Validate:       validate,
		ValidateUpdate: registry.IgnoringOld(validate),
	}.Strategy()
}
