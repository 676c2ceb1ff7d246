package apiserver

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/storage"
)

// Lookup gives admission plugins and in-process helpers access to other objects.
func (s *Server) Lookup() admission.Lookup { return serverLookup{s} }

// SetAdmission installs the admission chain; call before Run. Plugins usually need Lookup, which
// needs the server, hence the two steps.
func (s *Server) SetAdmission(c *admission.Chain) { s.cfg.Admission = c }

type serverLookup struct{ s *Server }

func (l serverLookup) endpoint(gvr schema.GroupVersionResource) (*endpoint, error) {
	ep := l.s.endpoints[gvr]
	if ep == nil {
		return nil, fmt.Errorf("resource %s is not served", gvr)
	}
	return ep, nil
}

func (l serverLookup) Get(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, error) {
	ep, err := l.endpoint(gvr)
	if err != nil {
		return nil, err
	}
	obj, err := ep.store.Get(ctx, ep.key(namespace, name), storage.ReadOptions{RV: "0"})
	if err != nil {
		return nil, storageError(err, ep.res.GroupResource(), name)
	}
	return ep.fromStorage(obj)
}

func (l serverLookup) List(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error) {
	return l.list(ctx, gvr, namespace, "0")
}

func (l serverLookup) list(ctx context.Context, gvr schema.GroupVersionResource, namespace, rv string) ([]runtime.Object, error) {
	ep, err := l.endpoint(gvr)
	if err != nil {
		return nil, err
	}
	res, err := ep.store.List(ctx, storage.ListOptions{ReadOptions: storage.ReadOptions{RV: rv}, Namespace: namespace})
	if err != nil {
		return nil, storageError(err, ep.res.GroupResource(), "")
	}
	out := make([]runtime.Object, 0, len(res.Items))
	for _, it := range res.Items {
		obj, err := ep.fromStorage(it.Object)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

func (l serverLookup) Update(ctx context.Context, gvr schema.GroupVersionResource, obj runtime.Object, subresource string) (runtime.Object, error) {
	ep, err := l.endpoint(gvr)
	if err != nil {
		return nil, err
	}
	if subresource != "" && subresource != "status" {
		return nil, apierrors.NewBadRequest("lookup updates only the main resource or status")
	}
	m := accessor(obj)
	opts := writeOptions{manager: "kube-apiserver", user: systemUser, subresource: subresource, skipAdmission: true}
	out, _, err := l.s.update(ctx, ep, m.GetNamespace(), m.GetName(), func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	}, false, opts)
	return out, err
}

// SetEviction installs the check the pods/eviction handler runs before deleting a pod (Pod
// Disruption Budgets); call before Run.
func (s *Server) SetEviction(f func(ctx context.Context, namespace, name string, dryRun bool) error) {
	s.cfg.Eviction = f
}

// GetLive reads from etcd, past the watch cache.
func (l serverLookup) GetLive(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, error) {
	ep, err := l.endpoint(gvr)
	if err != nil {
		return nil, err
	}
	obj, err := ep.store.Get(ctx, ep.key(namespace, name), storage.ReadOptions{})
	if err != nil {
		return nil, storageError(err, ep.res.GroupResource(), name)
	}
	return ep.fromStorage(obj)
}

// ListLive lists at etcd's current revision.
func (l serverLookup) ListLive(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error) {
	return l.list(ctx, gvr, namespace, "")
}
