package registry

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Strategy holds the per-resource behaviour that the generic handlers cannot derive. Every hook is
// optional: a nil hook means "nothing beyond the generic behaviour". The generic behaviour, applied to
// every resource, is:
//   - on create: status is cleared for resources with a status subresource, metadata.generation is 1
//     for resources with a spec;
//   - on update of the main resource: status is kept from the stored object, generation is bumped when
//     anything outside metadata and status changed;
//   - on update of the status subresource: everything but status (and resourceVersion) is kept from the
//     stored object;
//   - ObjectMeta is validated (names, generateName, labels, annotations, owner references, finalizers).
type Strategy struct {
	// Default applies upstream's defaults (pod restartPolicy, Deployment strategy, ...). It runs on the
	// object a client sent for create and update, and on the result of every patch, before validation.
	Default func(obj runtime.Object)

	// PrepareForCreate clears or sets server-owned fields beyond the generic ones.
	PrepareForCreate func(ctx context.Context, obj runtime.Object)
	// PrepareForUpdate does the same on update; old is the stored object and must not be modified.
	PrepareForUpdate func(ctx context.Context, obj, old runtime.Object)

	// Validate checks a new object (after Default and PrepareForCreate). Field paths start at the
	// object's root ("spec.containers[0].name").
	Validate func(ctx context.Context, obj runtime.Object) field.ErrorList
	// ValidateUpdate checks an update of the main resource; it also enforces immutable fields.
	ValidateUpdate func(ctx context.Context, obj, old runtime.Object) field.ErrorList
	// ValidateStatusUpdate checks an update through the status subresource.
	ValidateStatusUpdate func(ctx context.Context, obj, old runtime.Object) field.ErrorList

	// GracePeriod returns the grace period of a delete, given the request's (nil when unset):
	// pods default to spec.terminationGracePeriodSeconds. Nil means deletes are immediate.
	GracePeriod func(obj runtime.Object, requested *int64) int64
	// PrepareForDelete marks an object as being deleted beyond metadata.deletionTimestamp (a
	// namespace's Terminating phase).
	PrepareForDelete func(obj runtime.Object)
	// Held says whether something besides metadata.finalizers keeps an object that is being
	// deleted (a namespace's spec.finalizers).
	Held func(obj runtime.Object) bool

	// SelectableFields returns the fields a field selector may use, beyond metadata.name and
	// metadata.namespace which every resource supports (e.g. spec.nodeName and status.phase for pods).
	SelectableFields func(obj runtime.Object) fields.Set
}

// Table describes how a resource renders as a metav1.Table (kubectl get).
type Table struct {
	// Columns are the column definitions; a column with Priority 1 shows only with -o wide.
	Columns []metav1.TableColumnDefinition
	// Row returns the cells of one object, one per column, in order.
	Row func(obj runtime.Object) ([]interface{}, error)
}

// ScaleAccess reads and writes the replica count behind a scale subresource.
type ScaleAccess struct {
	// SpecReplicas returns spec.replicas (with the default applied).
	SpecReplicas func(obj runtime.Object) int32
	// SetSpecReplicas sets spec.replicas on obj.
	SetSpecReplicas func(obj runtime.Object, replicas int32)
	// StatusReplicas returns status.replicas.
	StatusReplicas func(obj runtime.Object) int32
	// Selector returns the label selector of the pods the object counts, in its string form.
	Selector func(obj runtime.Object) (string, error)
}

// Resource describes one resource as served at one group/version.
type Resource struct {
	// GroupVersionResource is where the resource is served.
	schema.GroupVersionResource
	Kind         string
	SingularName string
	ShortNames   []string
	Categories   []string
	Namespaced   bool

	// StorageVersion is the version the object is stored in; empty means the served version. A
	// resource served in two versions has one storage (the same etcd keys) and converts.
	StorageVersion schema.GroupVersion
	// StorageResource is the resource name under which objects are stored when it differs from
	// Resource (events.k8s.io events share core events' storage).
	StorageResource schema.GroupResource

	// ToStorage and FromStorage convert between the served version and StorageVersion; both are
	// required when StorageVersion is set. They must not modify their argument.
	ToStorage   func(obj runtime.Object) (runtime.Object, error)
	FromStorage func(obj runtime.Object) (runtime.Object, error)

	// Verbs lists the verbs served; empty means all of get, list, watch, create, update, patch,
	// delete, deletecollection.
	Verbs []string

	// Status says the resource has a status subresource.
	Status bool
	// KeepStatusOnCreate keeps the status a client sends on create instead of clearing it (Nodes:
	// an agent registers its Node with its status filled in, as upstream allows).
	KeepStatusOnCreate bool
	// Scale is non-nil when the resource has a scale subresource.
	Scale *ScaleAccess

	// NameValidation validates metadata.name (and generateName, with prefix true); nil means a DNS
	// subdomain, the rule of most resources.
	NameValidation func(name string, prefix bool) []string

	// AllowCreateOnUpdate lets PUT create a missing object (upstream allows it for a few resources
	// such as Leases, Endpoints and Events).
	AllowCreateOnUpdate bool

	// TTL returns how long etcd keeps an object, in seconds (0: forever). Events expire.
	TTL func(obj runtime.Object) int64

	Strategy Strategy
	Table    *Table
}

// StorageGroupResource is the group/resource of the etcd keys behind the resource.
func (r *Resource) StorageGroupResource() schema.GroupResource {
	if r.StorageResource.Resource != "" {
		return r.StorageResource
	}
	return r.GroupResource()
}
