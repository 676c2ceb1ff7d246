package controllerref

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Manager claims objects for one owner.
type Manager struct {
	Owner     metav1.Object
	OwnerKind schema.GroupVersionKind
	Selector  labels.Selector
	// Fresh re-reads the owner from the API server (not a cache). Adoption is refused when the
	// owner is gone, replaced (another UID) or being deleted: a cache can lag a delete, and
	// adopting then would leave objects owned by something the garbage collector is removing.
	Fresh func(ctx context.Context) (metav1.Object, error)
	// Patch applies a strategic merge patch to the claimed object name in the owner's namespace.
	// It may return the patched object, which Claim then returns in place of the cached one, for
	// a caller that goes on to write the object (nil: the cached object is returned).
	Patch func(ctx context.Context, name string, patch []byte) (metav1.Object, error)
	// Adoptable narrows adoption to orphans it accepts besides the selector (nil: every orphan
	// the selector matches), as a StatefulSet adopts only pods named as its members. It does
	// not decide release: what the owner controls stays while the selector matches.
	Adoptable func(metav1.Object) bool

	once     sync.Once
	adoptErr error
}

// NewControllerRef is the ownerReference a controller puts on what it creates.
func NewControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	return &metav1.OwnerReference{
		APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: owner.GetName(), UID: owner.GetUID(),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
}

// Claim returns the objects of objs that the owner controls after adopting and releasing.
// Errors of single objects are joined; the objects claimed so far are returned with them.
func Claim[T metav1.Object](ctx context.Context, m *Manager, objs []T) ([]T, error) {
	var claimed []T
	var errs []error
	ownerDeleting := m.Owner.GetDeletionTimestamp() != nil
	for _, o := range objs {
		ok, adopted, err := m.claimOne(ctx, o, ownerDeleting)
		if err != nil {
			errs = append(errs, err)
		}
		if !ok {
			continue
		}
		if a, isT := adopted.(T); isT && adopted != nil {
			o = a
		}
		claimed = append(claimed, o)
	}
	return claimed, errors.Join(errs...)
}

// claimOne says whether the owner controls o, with the adopted object when it was just adopted
// and Patch returned it.
func (m *Manager) claimOne(ctx context.Context, o metav1.Object, ownerDeleting bool) (bool, metav1.Object, error) {
	matches := m.Selector.Matches(labels.Set(o.GetLabels()))
	if ref := metav1.GetControllerOfNoCopy(o); ref != nil {
		if ref.UID != m.Owner.GetUID() {
			return false, nil, nil
		}
		if matches {
			return true, nil, nil
		}
		// An owner being deleted keeps what it has: the garbage collector decides their fate.
		if ownerDeleting {
			return false, nil, nil
		}
		if err := m.release(ctx, o); err != nil {
			if apierrors.IsNotFound(err) {
				return false, nil, nil
			}
			// Not released: still ours.
			return true, nil, err
		}
		return false, nil, nil
	}
	if ownerDeleting || !matches || o.GetDeletionTimestamp() != nil || (m.Adoptable != nil && !m.Adoptable(o)) {
		return false, nil, nil
	}
	if err := m.canAdopt(ctx); err != nil {
		return false, nil, fmt.Errorf("can't adopt %s: %v", o.GetName(), err)
	}
	adopted, err := m.adopt(ctx, o)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil, nil
		}
		return false, nil, err
	}
	return true, adopted, nil
}

func (m *Manager) canAdopt(ctx context.Context) error {
	m.once.Do(func() {
		fresh, err := m.Fresh(ctx)
		switch {
		case err != nil:
			m.adoptErr = err
		case fresh.GetUID() != m.Owner.GetUID():
			m.adoptErr = fmt.Errorf("original %s %s/%s is gone: got uid %s, wanted %s", m.OwnerKind.Kind,
				m.Owner.GetNamespace(), m.Owner.GetName(), fresh.GetUID(), m.Owner.GetUID())
		case fresh.GetDeletionTimestamp() != nil:
			m.adoptErr = fmt.Errorf("%s %s/%s has just been deleted at %v", m.OwnerKind.Kind,
				m.Owner.GetNamespace(), m.Owner.GetName(), fresh.GetDeletionTimestamp())
		}
	})
	return m.adoptErr
}

type patchMeta struct {
	Metadata struct {
		OwnerReferences []any     `json:"ownerReferences"`
		UID             types.UID `json:"uid"`
	} `json:"metadata"`
}

func (m *Manager) adopt(ctx context.Context, o metav1.Object) (metav1.Object, error) {
	var p patchMeta
	p.Metadata.OwnerReferences = []any{NewControllerRef(m.Owner, m.OwnerKind)}
	// The object's UID in the patch makes a recreated object of the same name fail the patch
	// instead of being adopted unseen.
	p.Metadata.UID = o.GetUID()
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return m.Patch(ctx, o.GetName(), data)
}

func (m *Manager) release(ctx context.Context, o metav1.Object) error {
	var p patchMeta
	p.Metadata.OwnerReferences = []any{map[string]any{"$patch": "delete", "uid": m.Owner.GetUID()}}
	p.Metadata.UID = o.GetUID()
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = m.Patch(ctx, o.GetName(), data)
	return err
}
