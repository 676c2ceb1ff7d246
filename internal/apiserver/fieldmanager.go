package apiserver

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	"github.com/skiff-dev/skiff/internal/apiserver/createfields"
	"github.com/skiff-dev/skiff/internal/apiserver/scheme"
)

// typeConverter knows the structure of every k8s.io/api type (list keys, map semantics) for
// managed fields and server-side apply. Parsing its schema costs time and memory, so it is built
// on the first write that needs it, not at start-up.
var typeConverter = sync.OnceValue(func() managedfields.TypeConverter {
	return &trustedTypeConverter{inner: applyconfigurations.NewTypeConverter(scheme.Scheme), types: map[schema.GroupVersionKind]typeOf{}}
})

// trustedTypeConverter skips the schema walk where the field manager allows duplicates (every
// update's old and new object), for Go-typed objects: a k8s.io/api struct conforms to the
// schema generated from it by construction, and duplicates are what that walk would still reject.
// The walk was a third of each write's managed-fields cost. Everything else (applied patches,
// unstructured objects) goes to the validating converter, which also names each kind's type once.
type trustedTypeConverter struct {
	inner managedfields.TypeConverter
	mu    sync.RWMutex
	types map[schema.GroupVersionKind]typeOf
}

type typeOf struct {
	schema *smdschema.Schema
	ref    smdschema.TypeRef
}

func (c *trustedTypeConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	_, unstr := obj.(*unstructured.Unstructured)
	if unstr || !slices.Contains(opts, typed.AllowDuplicates) {
		return c.inner.ObjectToTyped(obj, opts...)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	c.mu.RLock()
	t, ok := c.types[gvk]
	c.mu.RUnlock()
	if !ok {
		tv, err := c.inner.ObjectToTyped(obj, opts...)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.types[gvk] = typeOf{schema: tv.Schema(), ref: tv.TypeRef()}
		c.mu.Unlock()
		return tv, nil
	}
	v, err := value.NewValueReflect(obj)
	if err != nil {
		return nil, err
	}
	//nolint:staticcheck // deliberate: see the type's comment
	return typed.AsTypedUnvalidated(v, t.schema, t.ref), nil
}

func (c *trustedTypeConverter) TypedToObject(v *typed.TypedValue) (runtime.Object, error) {
	return c.inner.TypedToObject(v)
}

// strategyDefaulter applies a resource's defaults inside server-side apply, so that defaulted
// fields are not mistaken for changes.
type strategyDefaulter struct{ e *endpoint }

func (d strategyDefaulter) Default(obj runtime.Object) {
	if f := d.e.res.Strategy.Default; f != nil {
		f(obj)
	}
}

// fieldManager returns the field manager for the main resource ("") or the status subresource.
func (e *endpoint) fieldManager(subresource string) (*managedfields.FieldManager, error) {
	e.fmOnce.Do(func() {
		e.fm = map[string]*managedfields.FieldManager{}
		apiVersion := fieldpath.APIVersion(e.gvk.GroupVersion().String())
		for _, sub := range []string{"", "status"} {
			var reset map[fieldpath.APIVersion]fieldpath.Filter
			if e.res.Status {
				// The main resource never owns status and the status subresource never owns
				// spec: what one writes through the other is reset, as upstream's strategies do.
				owned := "status"
				if sub == "status" {
					owned = "spec"
				}
				reset = map[fieldpath.APIVersion]fieldpath.Filter{
					apiVersion: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie(owned))),
				}
			}
			fm, err := managedfields.NewDefaultFieldManager(typeConverter(), scheme.Scheme, strategyDefaulter{e}, scheme.Scheme,
				e.gvk, e.gvk.GroupVersion(), sub, reset)
			if err != nil {
				e.fmErr = err
				return
			}
			e.fm[sub] = fm
		}
	})
	if e.fmErr != nil {
		return nil, e.fmErr
	}
	return e.fm[subresource], nil
}

// managerName is the field manager of a request: the fieldManager parameter, or the client's
// user agent up to its first slash, as upstream derives it.
func managerName(param, userAgent string) string {
	if param != "" {
		return param
	}
	if i := strings.IndexByte(userAgent, '/'); i >= 0 {
		userAgent = userAgent[:i]
	}
	if len(userAgent) > 128 {
		userAgent = userAgent[:128]
	}
	return userAgent
}

// trackUpdate records in obj's managedFields what manager changed from live. A failure to track
// never fails the write (upstream behaves the same): the object is stored without the new entry.
func (e *endpoint) trackUpdate(live, obj runtime.Object, manager, subresource string) runtime.Object {
	fm, err := e.fieldManager(subresource)
	if err != nil || fm == nil {
		return obj
	}
	return fm.UpdateNoErrors(live, obj, manager)
}

// trackCreate records in obj's managedFields what manager owns by creating it. A create is an
// update from the empty object; createfields computes exactly what the field manager would
// record for it, several times faster, and hands back to the field manager whatever it does not
// model (incoming managedFields, a last-applied annotation, unplanned types).
func (e *endpoint) trackCreate(obj runtime.Object, manager string) runtime.Object {
	if fm, err := e.fieldManager(""); err != nil || fm == nil {
		return obj // as trackUpdate: without a field manager nothing is tracked
	}
	if tr := e.createTracker(); tr != nil && tr.Track(obj, manager, time.Now()) {
		return obj
	}
	return e.trackUpdate(e.newObject(), obj, manager, "")
}

func (e *endpoint) createTracker() *createfields.Tracker {
	e.cfOnce.Do(func() {
		tv, err := typeConverter().ObjectToTyped(e.newObject(), typed.AllowDuplicates)
		if err != nil {
			slog.Warn("create managed fields: no schema, creates take the field manager", "kind", e.gvk.String(), "err", err)
			return
		}
		tr, err := createfields.NewTracker(tv.Schema(), tv.TypeRef(), e.newObject(), e.gvk.GroupVersion().String(), e.res.Status)
		if err != nil {
			slog.Warn("create managed fields: no plan, creates take the field manager", "kind", e.gvk.String(), "err", err)
			return
		}
		e.cf = tr
	})
	return e.cf
}
