package apiserver

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/storage"
)

// writeOptions carry what every write request says besides its object.
type writeOptions struct {
	dryRun      bool
	manager     string
	subresource string
	user        admission.UserInfo
	// applied says managed fields were already computed (server-side apply).
	applied bool
	// untracked writes record no managed fields: pods/binding, which upstream stores without
	// the field manager (spec.nodeName is nobody's field).
	untracked bool
	// skipAdmission is for the API server's own writes on behalf of admission plugins.
	skipAdmission bool
}

var errDeleteNow = errors.New("delete now")

func (s *Server) admit(ctx context.Context, ep *endpoint, op admission.Operation, obj, old runtime.Object, opts writeOptions) (*admission.Attributes, error) {
	m := accessor(firstNonNil(obj, old))
	a := &admission.Attributes{
		Operation: op, Resource: ep.res.GroupVersionResource, Subresource: opts.subresource, Kind: ep.gvk,
		Namespace: m.GetNamespace(), Name: m.GetName(), Object: obj, OldObject: old, User: opts.user, DryRun: opts.dryRun,
	}
	if opts.skipAdmission {
		return a, nil
	}
	return a, s.cfg.Admission.Admit(ctx, a)
}

func firstNonNil(objs ...runtime.Object) runtime.Object {
	for _, o := range objs {
		if o != nil && !reflect.ValueOf(o).IsNil() {
			return o
		}
	}
	return nil
}

func (e *endpoint) nameValidation() apivalidation.ValidateNameFunc {
	if e.res.NameValidation != nil {
		return e.res.NameValidation
	}
	return apivalidation.NameIsDNSSubdomain
}

func (e *endpoint) invalid(obj runtime.Object, errs field.ErrorList) error {
	return apierrors.NewInvalid(e.gvk.GroupKind(), accessor(obj).GetName(), errs)
}

// statusField returns the Status field of obj, if it has one.
func statusField(obj runtime.Object) (reflect.Value, bool) {
	v := reflect.ValueOf(obj).Elem().FieldByName("Status")
	return v, v.IsValid()
}

func specChanged(obj, old runtime.Object) bool {
	a := reflect.ValueOf(obj).Elem().FieldByName("Spec")
	b := reflect.ValueOf(old).Elem().FieldByName("Spec")
	if !a.IsValid() {
		return false
	}
	return !apiequality.Semantic.DeepEqual(a.Interface(), b.Interface())
}

// prepareCreate runs the create pipeline up to storage: defaults, server-owned fields, admission,
// validation. obj is in the served version and is modified.
func (s *Server) prepareCreate(ctx context.Context, ep *endpoint, namespace string, obj runtime.Object, opts writeOptions) (finish func(bool), err error) {
	finish = func(bool) {}
	defer func() {
		if err != nil {
			finish(false)
			finish = func(bool) {}
		}
	}()
	m := accessor(obj)
	if ep.res.Namespaced {
		if m.GetNamespace() != "" && m.GetNamespace() != namespace {
			return finish, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		m.SetNamespace(namespace)
	} else {
		m.SetNamespace("")
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + utilrand.String(5))
	}
	// Status is reset before defaulting so that status defaults (a claim's phase Pending) apply to
	// the stored object, as upstream's do when the object is read back through its defaulting codec.
	if ep.res.Status && !ep.res.KeepStatusOnCreate {
		if st, ok := statusField(obj); ok {
			st.Set(reflect.Zero(st.Type()))
		}
	}
	if f := ep.res.Strategy.Default; f != nil {
		f(obj)
	}
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.Now())
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetGeneration(0)
	if ep.hasSpec {
		m.SetGeneration(1)
	}
	if f := ep.res.Strategy.PrepareForCreate; f != nil {
		f(ctx, obj)
	}
	attrs, err := s.admit(ctx, ep, admission.Create, obj, nil, opts)
	if err != nil {
		return finish, err
	}
	if h := s.cfg.Hooks[ep.res.GroupResource()]; h != nil {
		f, err := h.BeginCreate(ctx, obj, opts.dryRun)
		if err != nil {
			return finish, err
		}
		finish = f
	}
	errs := apivalidation.ValidateObjectMetaAccessor(m, ep.res.Namespaced, ep.nameValidation(), field.NewPath("metadata"))
	if f := ep.res.Strategy.Validate; f != nil {
		errs = append(errs, f(ctx, obj)...)
	}
	if len(errs) > 0 {
		return finish, ep.invalid(obj, errs)
	}
	if opts.skipAdmission {
		return finish, nil
	}
	return finish, s.cfg.Admission.Validate(ctx, attrs)
}

// create stores a new object; obj is in the served version.
func (s *Server) create(ctx context.Context, ep *endpoint, namespace string, obj runtime.Object, opts writeOptions) (runtime.Object, error) {
	generated := accessor(obj).GetName() == "" && accessor(obj).GetGenerateName() != ""
	var original runtime.Object
	if generated {
		original = obj.DeepCopyObject()
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			// Start over from what the client sent, so nothing prepared twice.
			obj = original.DeepCopyObject()
		}
		finish, err := s.prepareCreate(ctx, ep, namespace, obj, opts)
		if err != nil {
			return nil, err
		}
		if !opts.applied {
			obj = ep.trackCreate(obj, opts.manager)
		}
		if opts.dryRun {
			finish(false)
			return obj, nil
		}
		out, err := s.store(ctx, ep, obj)
		finish(err == nil)
		if errors.Is(err, storage.ErrAlreadyExists) && generated && attempt < 8 {
			continue // the random suffix collided: draw another
		}
		if err != nil {
			return nil, storageError(err, ep.res.GroupResource(), accessor(obj).GetName())
		}
		return out, nil
	}
}

func (s *Server) store(ctx context.Context, ep *endpoint, obj runtime.Object) (runtime.Object, error) {
	st, err := ep.toStorage(obj)
	if err != nil {
		return nil, err
	}
	var ttl int64
	if ep.res.TTL != nil {
		ttl = ep.res.TTL(st)
	}
	m := accessor(obj)
	out, err := ep.store.Create(ctx, ep.key(m.GetNamespace(), m.GetName()), st, ttl)
	if err != nil {
		return nil, err
	}
	return ep.fromStorage(out)
}

// mutateFunc produces the requested object from the current one (a private copy, in the served
// version; nil when the object does not exist).
type mutateFunc func(cur runtime.Object) (runtime.Object, error)

// update runs an update of the main resource or a subresource through the whole pipeline,
// retrying on concurrent writes. created reports that a missing object was created.
func (s *Server) update(ctx context.Context, ep *endpoint, namespace, name string, mutate mutateFunc, allowCreate bool, opts writeOptions) (out runtime.Object, created bool, err error) {
	key := ep.key(namespace, name)
	gr := ep.res.GroupResource()
	var result runtime.Object
	// finish settles what the hooks of the latest attempt reserved; an attempt that loses a
	// concurrent write is undone before the next one.
	finish := func(bool) {}
	defer func() { finish(err == nil && !opts.dryRun) }()
	try := func(stored runtime.Object) (runtime.Object, int64, error) {
		finish(false)
		finish = func(bool) {}
		created = false
		if stored == nil {
			if !allowCreate {
				return nil, 0, apierrors.NewNotFound(gr, name)
			}
			obj, err := mutate(nil)
			if err != nil {
				return nil, 0, err
			}
			if m := accessor(obj); m.GetName() != name {
				return nil, 0, apierrors.NewBadRequest("the name of the object (" + m.GetName() + ") does not match the name on the URL (" + name + ")")
			}
			f, err := s.prepareCreate(ctx, ep, namespace, obj, opts)
			if err != nil {
				return nil, 0, err
			}
			finish = f
			if !opts.applied {
				obj = ep.trackCreate(obj, opts.manager)
			}
			created, result = true, obj
			return s.forStorage(ep, obj)
		}
		// stored is the store's private copy, so it can serve as old as it is.
		old, err := ep.fromStorage(stored)
		if err != nil {
			return nil, 0, err
		}
		obj, err := mutate(old.DeepCopyObject())
		if err != nil {
			return nil, 0, err
		}
		f, err := s.prepareUpdate(ctx, ep, namespace, name, obj, old, opts)
		if err != nil {
			return nil, 0, err
		}
		finish = f
		result = obj
		return s.forStorage(ep, obj)
	}
	if opts.dryRun {
		stored, err := ep.store.Get(ctx, key, storage.ReadOptions{})
		if errors.Is(err, storage.ErrNotFound) {
			stored, err = nil, nil
		}
		if err != nil {
			return nil, false, storageError(err, gr, name)
		}
		if stored != nil {
			stored = stored.DeepCopyObject()
		}
		if _, _, err := try(stored); err != nil {
			return nil, false, err
		}
		return result, created, nil
	}
	written, err := ep.store.GuaranteedUpdate(ctx, key, try)
	if err != nil {
		return nil, false, storageError(err, gr, name)
	}
	out, err = ep.fromStorage(written)
	if err != nil {
		return nil, false, err
	}
	// Removing the last finalizer of an object being deleted completes its deletion.
	if m := accessor(out); m.GetDeletionTimestamp() != nil && !s.deletePending(ep, out) {
		rv := m.GetResourceVersion()
		_, err := ep.store.Delete(ctx, key, func(cur runtime.Object) error {
			if accessor(cur).GetResourceVersion() != rv {
				return storage.ErrConflict
			}
			return nil
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
			return nil, false, storageError(err, gr, name)
		}
		if err == nil {
			s.afterDelete(ctx, ep, out)
		}
	}
	return out, created, nil
}

func (s *Server) afterDelete(ctx context.Context, ep *endpoint, obj runtime.Object) {
	if h := s.cfg.Hooks[ep.res.GroupResource()]; h != nil {
		h.AfterDelete(ctx, obj)
	}
}

func (s *Server) forStorage(ep *endpoint, obj runtime.Object) (runtime.Object, int64, error) {
	st, err := ep.toStorage(obj)
	if err != nil {
		return nil, 0, err
	}
	var ttl int64
	if ep.res.TTL != nil {
		ttl = ep.res.TTL(st)
	}
	return st, ttl, nil
}

// prepareUpdate checks and completes an update of old into obj (both in the served version).
func (s *Server) prepareUpdate(ctx context.Context, ep *endpoint, namespace, name string, obj, old runtime.Object, opts writeOptions) (finish func(bool), err error) {
	finish = func(bool) {}
	defer func() {
		if err != nil {
			finish(false)
			finish = func(bool) {}
		}
	}()
	err = s.prepareUpdateObject(ctx, ep, namespace, name, obj, old, opts, &finish)
	return finish, err
}

func (s *Server) prepareUpdateObject(ctx context.Context, ep *endpoint, namespace, name string, obj, old runtime.Object, opts writeOptions, finish *func(bool)) error {
	m, om := accessor(obj), accessor(old)
	gr := ep.res.GroupResource()
	if m.GetName() != name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
	}
	if ep.res.Namespaced && m.GetNamespace() != "" && m.GetNamespace() != namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if rv := m.GetResourceVersion(); rv != "" && rv != om.GetResourceVersion() {
		return apierrors.NewConflict(gr, name, errors.New(conflictMessage))
	}
	if ep.res.Namespaced {
		m.SetNamespace(namespace)
	}
	m.SetResourceVersion(om.GetResourceVersion())
	if f := ep.res.Strategy.Default; f != nil {
		f(obj)
	}
	switch opts.subresource {
	case "status":
		// Only status changes through the status subresource: everything else is the stored
		// object's, whatever the request said.
		fresh := old.DeepCopyObject()
		if st, ok := statusField(obj); ok {
			fst, _ := statusField(fresh)
			fst.Set(st)
		}
		fm := accessor(fresh)
		fm.SetManagedFields(m.GetManagedFields())
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(fresh).Elem())
	default:
		if ep.res.Status && opts.subresource == "" {
			if st, ok := statusField(obj); ok {
				ost, _ := statusField(old)
				st.Set(ost)
			}
		}
		m.SetUID(om.GetUID())
		m.SetCreationTimestamp(om.GetCreationTimestamp())
		m.SetDeletionTimestamp(om.GetDeletionTimestamp())
		m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
		m.SetGeneration(om.GetGeneration())
		// A binding sets spec.nodeName but is no new desired state: upstream's binding leaves
		// the generation alone too.
		if ep.hasSpec && opts.subresource != "binding" && specChanged(obj, old) {
			m.SetGeneration(om.GetGeneration() + 1)
		}
		// namespaces/finalize changes exactly spec.finalizers, which the main resource's
		// PrepareForUpdate keeps from the stored object: it must not run there.
		if f := ep.res.Strategy.PrepareForUpdate; f != nil && opts.subresource != "finalize" {
			f(ctx, obj, old)
		}
	}
	attrs, err := s.admit(ctx, ep, admission.Update, obj, old, opts)
	if err != nil {
		return err
	}
	if h := s.cfg.Hooks[ep.res.GroupResource()]; h != nil && opts.subresource == "" {
		f, err := h.BeginUpdate(ctx, obj, old, opts.dryRun)
		if err != nil {
			return err
		}
		*finish = f
	}
	errs := apivalidation.ValidateObjectMetaAccessorUpdate(m, om, field.NewPath("metadata"))
	if om.GetDeletionTimestamp() != nil {
		// Upstream refuses new finalizers on an object that is going away.
		have := map[string]bool{}
		for _, f := range om.GetFinalizers() {
			have[f] = true
		}
		for i, f := range m.GetFinalizers() {
			if !have[f] {
				errs = append(errs, field.Forbidden(field.NewPath("metadata", "finalizers").Index(i), "no new finalizers can be added if the object is being deleted, found new finalizers []string{\""+f+"\"}"))
			}
		}
	}
	switch opts.subresource {
	case "binding":
		// Binding sets spec.nodeName, which no other update may change; the binding handler
		// has checked it.
	case "status":
		if f := ep.res.Strategy.ValidateStatusUpdate; f != nil {
			errs = append(errs, f(ctx, obj, old)...)
		}
	default:
		if f := ep.res.Strategy.ValidateUpdate; f != nil {
			errs = append(errs, f(ctx, obj, old)...)
		}
	}
	if len(errs) > 0 {
		return ep.invalid(obj, errs)
	}
	if !opts.skipAdmission {
		if err := s.cfg.Admission.Validate(ctx, attrs); err != nil {
			return err
		}
	}
	if !opts.applied && !opts.untracked {
		sub := opts.subresource
		if sub != "status" {
			sub = ""
		}
		tracked := ep.trackUpdate(old, obj, opts.manager, sub)
		if tracked != obj {
			reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(tracked).Elem())
		}
	}
	return nil
}

// deletePending says whether an object marked for deletion must stay: finalizers, a grace period
// still running, or a resource-specific hold.
func (s *Server) deletePending(ep *endpoint, obj runtime.Object) bool {
	m := accessor(obj)
	if len(m.GetFinalizers()) > 0 {
		return true
	}
	if g := m.GetDeletionGracePeriodSeconds(); g != nil && *g > 0 {
		return true
	}
	return ep.res.Strategy.Held != nil && ep.res.Strategy.Held(obj)
}

// remove deletes an object with upstream's semantics. gone says the object no longer exists;
// otherwise out is the object, now marked for deletion.
func (s *Server) remove(ctx context.Context, ep *endpoint, namespace, name string, do *metav1.DeleteOptions, opts writeOptions) (out runtime.Object, gone bool, err error) {
	key := ep.key(namespace, name)
	gr := ep.res.GroupResource()
	checkPreconditions := func(m metav1.Object) error {
		if p := do.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return &storage.PreconditionError{Msg: fmt.Sprintf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID())}
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return &storage.PreconditionError{Msg: fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion())}
			}
		}
		return nil
	}
	var last runtime.Object
	mark := func(stored runtime.Object) (runtime.Object, int64, error) {
		if stored == nil {
			return nil, 0, apierrors.NewNotFound(gr, name)
		}
		obj, err := ep.fromStorage(stored) // stored is the store's private copy: safe to mark
		if err != nil {
			return nil, 0, err
		}
		m := accessor(obj)
		if err := checkPreconditions(m); err != nil {
			return nil, 0, err
		}
		old := obj.DeepCopyObject()
		attrs := &admission.Attributes{Operation: admission.Delete, Resource: ep.res.GroupVersionResource, Kind: ep.gvk,
			Namespace: namespace, Name: name, OldObject: old, User: opts.user, DryRun: opts.dryRun}
		if err := s.cfg.Admission.Admit(ctx, attrs); err != nil {
			return nil, 0, err
		}
		if err := s.cfg.Admission.Validate(ctx, attrs); err != nil {
			return nil, 0, err
		}
		var grace int64
		if f := ep.res.Strategy.GracePeriod; f != nil {
			grace = f(obj, do.GracePeriodSeconds)
		}
		finalizers := propagationFinalizers(m.GetFinalizers(), do)
		if m.GetDeletionTimestamp() != nil {
			// Already being deleted: a shorter grace period may still cut the wait.
			cur := m.GetDeletionGracePeriodSeconds()
			if cur != nil && grace < *cur {
				now := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
				m.SetDeletionTimestamp(&now)
				m.SetDeletionGracePeriodSeconds(&grace)
			}
			m.SetFinalizers(finalizers)
			if !s.deletePending(ep, obj) {
				return nil, 0, errDeleteNow
			}
			last = obj
			return s.forStorage(ep, obj)
		}
		m.SetFinalizers(finalizers)
		if f := ep.res.Strategy.PrepareForDelete; f != nil {
			f(obj)
		}
		held := ep.res.Strategy.Held != nil && ep.res.Strategy.Held(obj)
		if len(finalizers) == 0 && grace == 0 && !held {
			return nil, 0, errDeleteNow
		}
		now := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
		m.SetDeletionTimestamp(&now)
		m.SetDeletionGracePeriodSeconds(&grace)
		if ep.hasSpec && grace > 0 {
			m.SetGeneration(m.GetGeneration() + 1)
		}
		last = obj
		return s.forStorage(ep, obj)
	}
	if opts.dryRun {
		stored, err := ep.store.Get(ctx, key, storage.ReadOptions{})
		if err != nil {
			return nil, false, storageError(err, gr, name)
		}
		_, _, err = mark(stored.DeepCopyObject())
		if errors.Is(err, errDeleteNow) {
			out, err := ep.fromStorage(stored)
			return out, true, err
		}
		if err != nil {
			return nil, false, storageError(err, gr, name)
		}
		return last, false, nil
	}
	for attempt := 0; attempt < 5; attempt++ {
		written, err := ep.store.GuaranteedUpdate(ctx, key, mark)
		if err == nil {
			out, err := ep.fromStorage(written)
			return out, false, err
		}
		if !errors.Is(err, errDeleteNow) {
			return nil, false, storageError(err, gr, name)
		}
		deleted, err := ep.store.Delete(ctx, key, func(cur runtime.Object) error {
			m := accessor(cur)
			if err := checkPreconditions(m); err != nil {
				return err
			}
			if len(m.GetFinalizers()) > 0 {
				return storage.ErrConflict // a finalizer arrived in between: mark instead
			}
			return nil
		})
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, false, storageError(err, gr, name)
		}
		out, err := ep.fromStorage(deleted)
		if err == nil {
			s.afterDelete(ctx, ep, out)
		}
		return out, true, err
	}
	return nil, false, apierrors.NewConflict(gr, name, errors.New("the object kept changing while being deleted"))
}

// propagationFinalizers sets the garbage collector's finalizers from a delete request, as upstream:
// an explicit propagationPolicy (or orphanDependents) replaces whichever of the two the object
// already has, so a later Background delete of an object deleting in foreground lets it go without
// waiting; with neither, the object keeps what it has.
func propagationFinalizers(finalizers []string, do *metav1.DeleteOptions) []string {
	if do.PropagationPolicy == nil && do.OrphanDependents == nil {
		return finalizers
	}
	out := removeString(removeString(finalizers, metav1.FinalizerOrphanDependents), metav1.FinalizerDeleteDependents)
	orphan := do.OrphanDependents != nil && *do.OrphanDependents
	foreground := false
	if p := do.PropagationPolicy; p != nil {
		orphan, foreground = *p == metav1.DeletePropagationOrphan, *p == metav1.DeletePropagationForeground
	}
	if orphan {
		out = addString(out, metav1.FinalizerOrphanDependents)
	}
	if foreground {
		out = addString(out, metav1.FinalizerDeleteDependents)
	}
	return out
}

func addString(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(append([]string{}, list...), s)
}

func removeString(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
