package printers

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// BuildTable renders obj, a list (typed or unstructured) or a single object, as a metav1.Table with
// t's columns (Default() when t is nil).
//
// The table carries the list's resourceVersion, continue token and remainingItemCount (a single
// object's resourceVersion). With noHeaders the column definitions are left out, as upstream does for
// a client that asked for no headers (kubectl watch pages after the first). include says what each
// row's Object holds: nothing (None), the object's metadata as a meta.k8s.io/v1 PartialObjectMetadata
// (Metadata, the default when empty), or the object itself (Object). Row objects are filled in both
// forms: Object for in-process callers, and Raw as JSON, so that a Table marshalled with encoding/json
// carries them; for include=Object the JSON has the apiVersion and kind the object carries.
func BuildTable(t *registry.Table, obj runtime.Object, include metav1.IncludeObjectPolicy, noHeaders bool) (*metav1.Table, error) {
	if t == nil {
		t = Default()
	}
	switch include {
	case "":
		include = metav1.IncludeMetadata
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
	default:
		return nil, fmt.Errorf("includeObject must be one of %q, %q or %q, not %q",
			metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject, include)
	}

	table := &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}}
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
		if l, err := meta.ListAccessor(obj); err == nil {
			table.ResourceVersion = l.GetResourceVersion()
			table.Continue = l.GetContinue()
			table.RemainingItemCount = l.GetRemainingItemCount()
		}
	} else {
		items = []runtime.Object{obj}
		if m, err := meta.Accessor(obj); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
		}
	}

	if !noHeaders {
		table.ColumnDefinitions = append([]metav1.TableColumnDefinition(nil), t.Columns...)
	}
	// An empty list must marshal as [] rather than null.
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for _, item := range items {
		cells, err := t.Row(item)
		if err != nil {
			return nil, err
		}
		if len(cells) != len(t.Columns) {
			return nil, fmt.Errorf("printers: %d cells for %d columns", len(cells), len(t.Columns))
		}
		row := metav1.TableRow{Cells: cells, Conditions: rowConditions(item)}
		if row.Object, err = rowObject(item, include); err != nil {
			return nil, err
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

func rowObject(item runtime.Object, include metav1.IncludeObjectPolicy) (runtime.RawExtension, error) {
	var o runtime.Object
	switch include {
	case metav1.IncludeNone:
		return runtime.RawExtension{}, nil
	case metav1.IncludeObject:
		o = item
	default:
		m, err := meta.Accessor(item)
		if err != nil {
			return runtime.RawExtension{}, err
		}
		partial := meta.AsPartialObjectMetadata(m).DeepCopy()
		partial.TypeMeta = metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}
		o = partial
	}
	raw, err := json.Marshal(o)
	if err != nil {
		return runtime.RawExtension{}, err
	}
	return runtime.RawExtension{Raw: raw, Object: o}, nil
}

// Upstream marks finished pods' rows Completed, which lets clients tell them from live ones without
// parsing the STATUS cell.
var (
	podSucceededConditions = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue,
		Reason: string(corev1.PodSucceeded), Message: "The pod has completed successfully."}}
	podFailedConditions = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue,
		Reason: string(corev1.PodFailed), Message: "The pod failed."}}
)

func rowConditions(item runtime.Object) []metav1.TableRowCondition {
	pod, ok := item.(*corev1.Pod)
	if !ok {
		return nil
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return append([]metav1.TableRowCondition(nil), podSucceededConditions...)
	case corev1.PodFailed:
		return append([]metav1.TableRowCondition(nil), podFailedConditions...)
	}
	return nil
}
