package admissiontest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GVR returns the resource of the object types plugins read.
func GVR(obj runtime.Object) schema.GroupVersionResource {
	core := corev1.SchemeGroupVersion
	switch obj.(type) {
	case *corev1.Namespace:
		return core.WithResource("namespaces")
	case *corev1.Pod:
		return core.WithResource("pods")
	case *corev1.Service:
		return core.WithResource("services")
	case *corev1.ServiceAccount:
		return core.WithResource("serviceaccounts")
	case *corev1.ConfigMap:
		return core.WithResource("configmaps")
	case *corev1.Secret:
		return core.WithResource("secrets")
	case *corev1.PersistentVolumeClaim:
		return core.WithResource("persistentvolumeclaims")
	case *corev1.PersistentVolume:
		return core.WithResource("persistentvolumes")
	case *corev1.ResourceQuota:
		return core.WithResource("resourcequotas")
	case *corev1.LimitRange:
		return core.WithResource("limitranges")
	case *schedulingv1.PriorityClass:
		return schedulingv1.SchemeGroupVersion.WithResource("priorityclasses")
	case *storagev1.StorageClass:
		return storagev1.SchemeGroupVersion.WithResource("storageclasses")
	case *policyv1.PodDisruptionBudget:
		return policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets")
	}
	panic(fmt.Sprintf("admissiontest: no resource known for %T", obj))
}

type key struct {
	gvr             schema.GroupVersionResource
	namespace, name string
}

// Lookup is an in-memory admission.Lookup. Reads hand out copies.
type Lookup struct {
	mu   sync.Mutex
	objs map[key]runtime.Object
	rv   int
	// Updates counts successful Update calls.
	Updates int
	// Conflicts, when positive, makes that many Update calls fail with a Conflict first (to test
	// retries).
	Conflicts int
	// Hidden keys are missing from Get and List but present for the live reads, like objects the
	// watch cache has not seen yet.
	Hidden map[string]bool
}

// New returns a Lookup holding objs.
func New(objs ...runtime.Object) *Lookup {
	l := &Lookup{objs: map[key]runtime.Object{}, Hidden: map[string]bool{}}
	for _, o := range objs {
		l.Add(o)
	}
	return l
}

func keyOf(gvr schema.GroupVersionResource, obj runtime.Object) key {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(err)
	}
	return key{gvr, m.GetNamespace(), m.GetName()}
}

// Add stores obj (a copy) with a new resourceVersion.
func (l *Lookup) Add(obj runtime.Object) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.put(GVR(obj), obj)
}

func (l *Lookup) put(gvr schema.GroupVersionResource, obj runtime.Object) runtime.Object {
	c := obj.DeepCopyObject()
	l.rv++
	m, _ := meta.Accessor(c)
	m.SetResourceVersion(strconv.Itoa(l.rv))
	l.objs[keyOf(gvr, c)] = c
	return c.DeepCopyObject()
}

// Hide makes namespace/name (or name) of gvr invisible to the cached reads.
func (l *Lookup) Hide(gvr schema.GroupVersionResource, namespace, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Hidden[gvr.Resource+"/"+namespace+"/"+name] = true
}

func (l *Lookup) get(gvr schema.GroupVersionResource, namespace, name string, live bool) (runtime.Object, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !live && l.Hidden[gvr.Resource+"/"+namespace+"/"+name] {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	o, ok := l.objs[key{gvr, namespace, name}]
	if !ok {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	return o.DeepCopyObject(), nil
}

func (l *Lookup) list(gvr schema.GroupVersionResource, namespace string, live bool) []runtime.Object {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keys []key
	for k := range l.objs {
		if k.gvr == gvr && (namespace == "" || k.namespace == namespace) &&
			(live || !l.Hidden[gvr.Resource+"/"+k.namespace+"/"+k.name]) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].namespace+"/"+keys[i].name < keys[j].namespace+"/"+keys[j].name })
	out := make([]runtime.Object, 0, len(keys))
	for _, k := range keys {
		out = append(out, l.objs[k].DeepCopyObject())
	}
	return out
}

// Get implements admission.Lookup.
func (l *Lookup) Get(_ context.Context, gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, error) {
	return l.get(gvr, namespace, name, false)
}

// List implements admission.Lookup.
func (l *Lookup) List(_ context.Context, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error) {
	return l.list(gvr, namespace, false), nil
}

// GetLive implements admission.LiveReader.
func (l *Lookup) GetLive(_ context.Context, gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, error) {
	return l.get(gvr, namespace, name, true)
}

// ListLive implements admission.LiveReader.
func (l *Lookup) ListLive(_ context.Context, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error) {
	return l.list(gvr, namespace, true), nil
}

// Update implements admission.Lookup: a stale resourceVersion is a Conflict.
func (l *Lookup) Update(_ context.Context, gvr schema.GroupVersionResource, obj runtime.Object, subresource string) (runtime.Object, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := keyOf(gvr, obj)
	cur, ok := l.objs[k]
	if !ok {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), k.name)
	}
	if l.Conflicts > 0 {
		l.Conflicts--
		l.rv++ // someone else wrote
		m, _ := meta.Accessor(cur)
		m.SetResourceVersion(strconv.Itoa(l.rv))
		return nil, apierrors.NewConflict(gvr.GroupResource(), k.name, errors.New("the object has been modified"))
	}
	cm, _ := meta.Accessor(cur)
	om, _ := meta.Accessor(obj)
	if om.GetResourceVersion() != cm.GetResourceVersion() {
		return nil, apierrors.NewConflict(gvr.GroupResource(), k.name, errors.New("the object has been modified"))
	}
	l.Updates++
	return l.put(gvr, obj), nil
}

// Object returns the stored object (a copy), or nil.
func (l *Lookup) Object(gvr schema.GroupVersionResource, namespace, name string) runtime.Object {
	o, err := l.get(gvr, namespace, name, true)
	if err != nil {
		return nil
	}
	return o
}
