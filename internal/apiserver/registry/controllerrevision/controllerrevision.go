package controllerrevision

import (
	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// Strategy returns the registry strategy of apps/v1 controllerrevisions. There are no defaults, no
// status and only metadata is selectable.
func Strategy() registry.Strategy {
	return registry.Typed[*appsv1.ControllerRevision]{
		Validate:       Validate,
		ValidateUpdate: ValidateUpdate,
	}.Strategy()
}

// Validate checks a new revision.
func Validate(r *appsv1.ControllerRevision) field.ErrorList {
	var errs field.ErrorList
	if r.Data.Raw == nil && r.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, apivalidation.ValidateNonnegativeField(r.Revision, field.NewPath("revision"))...)
}

// ValidateUpdate checks an update. The revision number may move (a rollback re-numbers the revision it
// returns to), the data may not: it is the record of what was rolled out.
func ValidateUpdate(r, old *appsv1.ControllerRevision) field.ErrorList {
	errs := Validate(r)
	return append(errs, apivalidation.ValidateImmutableField(r.Data, old.Data, field.NewPath("data"))...)
}
