package admission

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Operation is what a request does to an object.
type Operation string

const (
	Create  Operation = "CREATE"
	Update  Operation = "UPDATE"
	Delete  Operation = "DELETE"
	Connect Operation = "CONNECT"
)

// UserInfo is the authenticated caller.
type UserInfo struct {
	Name   string
	UID    string
	Groups []string
}

// Attributes describe one admission request.
type Attributes struct {
	Operation   Operation
	Resource    schema.GroupVersionResource
	Subresource string
	Kind        schema.GroupVersionKind
	Namespace   string
	Name        string
	// Object is the new object (nil on delete); mutating plugins may change it.
	Object runtime.Object
	// OldObject is the stored object on update and delete.
	OldObject runtime.Object
	User      UserInfo
	DryRun    bool
}

// Lookup reads and writes other objects for plugins whose decision depends on them (the namespace
// of a new object, the quotas of a namespace). Reads come from the API server's watch cache and are
// shared: never modify a returned object, DeepCopy it. Writes go through the API server's update
// pipeline (without admission, to avoid recursion) with optimistic concurrency: a stale
// resourceVersion yields a Conflict error.
type Lookup interface {
	Get(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, error)
	List(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error)
	// Update writes obj (of the resource's served version) to the main resource or, with
	// subresource "status", to its status.
	Update(ctx context.Context, gvr schema.GroupVersionResource, obj runtime.Object, subresource string) (runtime.Object, error)
}

// Mutator changes objects before validation.
type Mutator interface {
	Admit(ctx context.Context, a *Attributes) error
}

// Validator accepts or refuses objects; it must not change them.
type Validator interface {
	Validate(ctx context.Context, a *Attributes) error
}

// Chain runs mutators, then validators, in order; the first error stops it.
type Chain struct {
	Mutators   []Mutator
	Validators []Validator
}

// Admit runs the mutating plugins.
func (c *Chain) Admit(ctx context.Context, a *Attributes) error {
	if c == nil {
		return nil
	}
	for _, m := range c.Mutators {
		if err := m.Admit(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// Validate runs the validating plugins.
func (c *Chain) Validate(ctx context.Context, a *Attributes) error {
	if c == nil {
		return nil
	}
	for _, v := range c.Validators {
		if err := v.Validate(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// LiveReader is implemented by Lookups that can also read past the watch cache. Plugins use it
// after a cache miss or a write conflict, when the cache may lag a write that just happened (a
// namespace created a moment ago, a quota another request just charged).
type LiveReader interface {
	GetLive(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, error)
	ListLive(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error)
}

// GetLive reads through l's LiveReader when it has one, else from its cache.
func GetLive(ctx context.Context, l Lookup, gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, error) {
	if lr, ok := l.(LiveReader); ok {
		return lr.GetLive(ctx, gvr, namespace, name)
	}
	return l.Get(ctx, gvr, namespace, name)
}

// ListLive lists through l's LiveReader when it has one, else from its cache.
func ListLive(ctx context.Context, l Lookup, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error) {
	if lr, ok := l.(LiveReader); ok {
		return lr.ListLive(ctx, gvr, namespace)
	}
	return l.List(ctx, gvr, namespace)
}

// NewForbidden is the 403 a plugin returns when it refuses a request: it names the object of the
// request (from the object itself when the request carries no name, e.g. generateName).
func NewForbidden(a *Attributes, err error) error {
	name := a.Name
	if name == "" {
		for _, o := range []runtime.Object{a.Object, a.OldObject} {
			if m, ok := o.(metav1.Object); ok && m.GetName() != "" {
				name = m.GetName()
				break
			}
		}
	}
	return apierrors.NewForbidden(a.Resource.GroupResource(), name, err)
}
