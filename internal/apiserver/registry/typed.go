package registry

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Typed builds a Strategy from hooks written against one concrete Go type T (say *corev1.Pod), so
// that a resource package states its rules on its own type and the conversion from runtime.Object is
// written once, here. The hooks take no context because no rule depends on the request: a strategy
// sees objects only.
//
// An object of another type is a wiring mistake, not a client error, and must not take the server
// down: validation hooks report one internal error naming the type they got, the others leave the
// object alone and answer as if the hook were absent. A nil hook stays nil in the Strategy, so the
// generic behaviour applies exactly as when the field is unset.
type Typed[T runtime.Object] struct {
	Default          func(obj T)
	PrepareForCreate func(obj T)
	PrepareForUpdate func(obj, old T)

	Validate             func(obj T) field.ErrorList
	ValidateUpdate       func(obj, old T) field.ErrorList
	ValidateStatusUpdate func(obj, old T) field.ErrorList

	GracePeriod      func(obj T, requested *int64) int64
	PrepareForDelete func(obj T)
	Held             func(obj T) bool

	SelectableFields func(obj T) fields.Set
}

// Strategy returns the untyped Strategy the generic handlers call.
func (t Typed[T]) Strategy() Strategy {
	var s Strategy
	if f := t.Default; f != nil {
		s.Default = func(obj runtime.Object) {
			if o, ok := obj.(T); ok {
				f(o)
			}
		}
	}
	if f := t.PrepareForCreate; f != nil {
		s.PrepareForCreate = func(_ context.Context, obj runtime.Object) {
			if o, ok := obj.(T); ok {
				f(o)
			}
		}
	}
	if f := t.PrepareForUpdate; f != nil {
		s.PrepareForUpdate = func(_ context.Context, obj, old runtime.Object) {
			o, ok1 := obj.(T)
			oo, ok2 := old.(T)
			if ok1 && ok2 {
				f(o, oo)
			}
		}
	}
	if f := t.Validate; f != nil {
		s.Validate = func(_ context.Context, obj runtime.Object) field.ErrorList {
			o, ok := obj.(T)
			if !ok {
				return wrongType[T](obj)
			}
			return f(o)
		}
	}
	if f := t.ValidateUpdate; f != nil {
		s.ValidateUpdate = validatePair(f)
	}
	if f := t.ValidateStatusUpdate; f != nil {
		s.ValidateStatusUpdate = validatePair(f)
	}
	if f := t.GracePeriod; f != nil {
		s.GracePeriod = func(obj runtime.Object, requested *int64) int64 {
			if o, ok := obj.(T); ok {
				return f(o, requested)
			}
			// As with no hook: the delete is immediate.
			return 0
		}
	}
	if f := t.PrepareForDelete; f != nil {
		s.PrepareForDelete = func(obj runtime.Object) {
			if o, ok := obj.(T); ok {
				f(o)
			}
		}
	}
	if f := t.Held; f != nil {
		s.Held = func(obj runtime.Object) bool {
			o, ok := obj.(T)
			return ok && f(o)
		}
	}
	if f := t.SelectableFields; f != nil {
		s.SelectableFields = func(obj runtime.Object) fields.Set {
			if o, ok := obj.(T); ok {
				return f(o)
			}
			return nil
		}
	}
	return s
}

func validatePair[T runtime.Object](f func(obj, old T) field.ErrorList) func(context.Context, runtime.Object, runtime.Object) field.ErrorList {
	return func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		o, ok := obj.(T)
		if !ok {
			return wrongType[T](obj)
		}
		oo, ok := old.(T)
		if !ok {
			return wrongType[T](old)
		}
		return f(o, oo)
	}
}

// wrongType is the error of a hook handed an object it was not written for.
func wrongType[T runtime.Object](got runtime.Object) field.ErrorList {
	var want T
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected %T, got %T", want, got))}
}

// IgnoringOld adapts a check of one object to an update hook, for resources whose update rules are
// their create rules (nothing immutable beyond metadata).
func IgnoringOld[T runtime.Object](f func(obj T) field.ErrorList) func(obj, old T) field.ErrorList {
	return func(obj, _ T) field.ErrorList { return f(obj) }
}
