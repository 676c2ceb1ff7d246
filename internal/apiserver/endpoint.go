package apiserver

import (
	"fmt"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"github.com/skiff-dev/skiff/internal/apiserver/createfields"
	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/scheme"
	"github.com/skiff-dev/skiff/internal/apiserver/storage"
)

// endpoint is one resource as served at one group/version, bound to its storage.
type endpoint struct {
	res        *registry.Resource
	store      *storage.Resource
	gvk        schema.GroupVersionKind // served kind
	storageGVK schema.GroupVersionKind
	hasSpec    bool

	fmOnce sync.Once
	fm     map[string]*managedfields.FieldManager // by subresource
	fmErr  error
	// cf computes the managed fields of creates without the field manager; nil when the kind
	// cannot be planned (every create then takes the field manager).
	cfOnce sync.Once
	cf     *createfields.Tracker
}

func newEndpoint(res *registry.Resource, st *storage.Store) (*endpoint, error) {
	gvk := res.GroupVersion().WithKind(res.Kind)
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", res.GroupVersionResource, err)
	}
	storageGVK := gvk
	if !res.StorageVersion.Empty() {
		if res.ToStorage == nil || res.FromStorage == nil {
			return nil, fmt.Errorf("resource %s: StorageVersion needs ToStorage and FromStorage", res.GroupVersionResource)
		}
		storageGVK = res.StorageVersion.WithKind(res.Kind)
	}
	if _, err := scheme.Scheme.New(storageGVK); err != nil {
		return nil, fmt.Errorf("resource %s storage: %w", res.GroupVersionResource, err)
	}
	_, hasSpec := reflect.TypeOf(obj).Elem().FieldByName("Spec")
	ep := &endpoint{res: res, gvk: gvk, storageGVK: storageGVK, hasSpec: hasSpec}
	ep.store = st.Register(res.StorageGroupResource(), storageGVK, func() runtime.Object {
		o, _ := scheme.Scheme.New(storageGVK)
		return o
	})
	return ep, nil
}

// newObject returns an empty object of the served kind, with its type meta set.
func (e *endpoint) newObject() runtime.Object {
	o, _ := scheme.Scheme.New(e.gvk)
	o.GetObjectKind().SetGroupVersionKind(e.gvk)
	return o
}

func (e *endpoint) newList() runtime.Object {
	lk := e.gvk.GroupVersion().WithKind(e.gvk.Kind + "List")
	o, _ := scheme.Scheme.New(lk)
	o.GetObjectKind().SetGroupVersionKind(lk)
	return o
}

func (e *endpoint) converts() bool { return e.storageGVK != e.gvk }

// fromStorage converts a stored object to the served version. Without conversion the stored object
// itself is returned: it may be shared with the cache.
func (e *endpoint) fromStorage(obj runtime.Object) (runtime.Object, error) {
	if !e.converts() {
		return obj, nil
	}
	out, err := e.res.FromStorage(obj)
	if err != nil {
		return nil, err
	}
	out.GetObjectKind().SetGroupVersionKind(e.gvk)
	return out, nil
}

func (e *endpoint) toStorage(obj runtime.Object) (runtime.Object, error) {
	if !e.converts() {
		return obj, nil
	}
	out, err := e.res.ToStorage(obj)
	if err != nil {
		return nil, err
	}
	out.GetObjectKind().SetGroupVersionKind(e.storageGVK)
	return out, nil
}

// key returns the storage key of namespace/name.
func (e *endpoint) key(namespace, name string) string {
	if !e.res.Namespaced {
		namespace = ""
	}
	return e.store.Key(namespace, name)
}

func accessor(obj runtime.Object) metav1.Object {
	a, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("object %T has no metadata: %v", obj, err))
	}
	return a
}

func (e *endpoint) allows(verb string) bool {
	if len(e.res.Verbs) == 0 {
		return true
	}
	return contains(e.res.Verbs, verb)
}
