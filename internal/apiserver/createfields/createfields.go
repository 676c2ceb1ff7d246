package createfields

import (
	"fmt"
	"reflect"
	"sync"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v6/schema"
)

// lastApplied is the annotation kubectl's client-side apply keeps; the field manager treats
// objects that carry it specially, so they take the full path.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// metaStripped are the metadata fields the field manager never records as owned.
var metaStripped = []string{"name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "managedFields", "resourceVersion"}

// Tracker computes the managed fields of creates of one kind, in one API version.
type Tracker struct {
	typ        reflect.Type // the struct type obj points to
	root       *node
	apiVersion string
	pool       sync.Pool
}

// NewTracker plans the Go type of obj (a pointer to a k8s.io/api struct) under schema type ref.
// apiVersion is the group/version the entries name; resetStatus drops status, as the field
// manager of a resource with a status subresource does for writes of the main resource.
func NewTracker(s *schema.Schema, ref schema.TypeRef, obj runtime.Object, apiVersion string, resetStatus bool) (*Tracker, error) {
	t := reflect.TypeOf(obj)
	if t == nil || t.Kind() != reflect.Ptr || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("createfields: %T is not a pointer to a struct", obj)
	}
	b := &builder{s: s, cache: map[planKey]*node{}}
	root := b.build(t.Elem(), ref)
	if root.kind != kStruct {
		return nil, fmt.Errorf("createfields: the schema of %T is not a struct", obj)
	}
	skip := []string{"apiVersion", "kind"}
	if resetStatus {
		skip = append(skip, "status")
	}
	root = withSkip(root, skip...)
	var meta *node
	for _, f := range root.fields {
		if f.name == "metadata" {
			meta = f.n
		}
	}
	if meta == nil || meta.kind != kStruct {
		return nil, fmt.Errorf("createfields: %T has no metadata", obj)
	}
	root = withField(root, "metadata", withSkip(meta, metaStripped...))
	return &Tracker{typ: t.Elem(), root: root, apiVersion: apiVersion}, nil
}

// Fields returns the FieldsV1 the field manager records for creating obj, nil when it records
// none, and an error when obj needs the full field manager.
func (t *Tracker) Fields(obj runtime.Object) ([]byte, error) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Ptr || v.IsNil() || v.Type().Elem() != t.typ {
		return nil, cannot("%T is not %v", obj, t.typ)
	}
	w, _ := t.pool.Get().(*walker)
	if w == nil {
		w = &walker{sc: jsonAPI.BorrowStream(nil)}
	}
	defer t.pool.Put(w)
	w.b = append(w.b[:0], '{')
	if _, err := w.structBody(t.root, v.Elem(), lZero); err != nil {
		return nil, err
	}
	if len(w.b) == 1 {
		return nil, nil
	}
	w.b = append(w.b, '}')
	return append([]byte(nil), w.b...), nil
}

// Track records in obj's managedFields what manager owns by creating it, at now, as the field
// manager does for an update from the empty object. It reports false, leaving obj untouched,
// when obj needs the full field manager: it already carries managedFields or a last-applied
// annotation, or holds something the plan does not model.
func (t *Tracker) Track(obj runtime.Object, manager string, now time.Time) bool {
	m, err := meta.Accessor(obj)
	if err != nil || m.GetManagedFields() != nil || !utf8.ValidString(manager) {
		return false
	}
	if _, ok := m.GetAnnotations()[lastApplied]; ok {
		return false
	}
	raw, err := t.Fields(obj)
	if err != nil {
		return false
	}
	if raw == nil {
		return true
	}
	if manager == "" {
		manager = "unknown"
	}
	m.SetManagedFields([]metav1.ManagedFieldsEntry{{
		Manager:    manager,
		Operation:  metav1.ManagedFieldsOperationUpdate,
		APIVersion: t.apiVersion,
		Time:       &metav1.Time{Time: now.UTC()},
		FieldsType: "FieldsV1",
		FieldsV1:   &metav1.FieldsV1{Raw: raw},
	}})
	return true
}
