package podtemplate

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/pod"
)

// Strategy returns the registry strategy of core/v1 podtemplates. Every field may change on update; no
// status, and only metadata is selectable.
func Strategy() registry.Strategy {
	validate := func(obj runtime.Object) field.ErrorList {
		pt := obj.(*corev1.PodTemplate)
		return pod.ValidatePodTemplateSpec(&pt.Template, field.NewPath("template"))
	}
	return registry.Strategy{
		Default:        func(obj runtime.Object) { pod.DefaultPodTemplateSpec(&obj.(*corev1.PodTemplate).Template) },
		Validate:       func(_ context.Context, obj runtime.Object) field.ErrorList { return validate(obj) },
		ValidateUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList { return validate(obj) },
	}
}
