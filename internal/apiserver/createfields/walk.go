package createfields

import (
	"errors"
	"fmt"
	"reflect"
	"sort"

	jsoniter "github.com/json-iterator/go"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// errCannot says the walker met something it does not model; the caller falls back.
var errCannot = errors.New("createfields: object needs the full field manager")

func cannot(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errCannot}, args...)...)
}

// lhs is what the empty object holds where the walker stands. The field manager compares the
// empty object with the new one: a path absent from the empty object is added (and owned with
// everything under it), one present there is owned only where the new value differs from it.
type lhs uint8

const (
	lAbsent lhs = iota // the empty object has nothing here
	lZero              // the zero value of this Go type (present: a field without omitempty)
	lNull              // an explicit null (a nil pointer, map or slice without omitempty)
)

type walker struct {
	b  []byte
	sc *jsoniter.Stream // escapes keys as the FieldsV1 writer does
}

const marker = `".":{}`

// entry writes `,"<key>":{...}` for one present value of the new object, or nothing when the
// field manager would own nothing at or under it.
func (w *walker) entry(key []byte, n *node, v reflect.Value, l lhs) error {
	mark := len(w.b)
	if len(w.b) > 0 && w.b[len(w.b)-1] != '{' {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, key...)
	w.b = append(w.b, ':', '{')
	body := len(w.b)
	member, err := w.body(n, v, l)
	if err != nil {
		return err
	}
	if len(w.b) == body+len(marker) && string(w.b[body:]) == marker {
		w.b = w.b[:body] // owned itself, but nothing under it
	}
	if len(w.b) == body && !member {
		w.b = w.b[:mark]
		return nil
	}
	w.b = append(w.b, '}')
	return nil
}

// member writes the "." marker of a node that is owned itself and may have children; entry
// removes it again when no child follows.
func (w *walker) member() { w.b = append(w.b, marker...) }

// body writes the children of a node and reports whether the node itself is owned. Children that
// follow a "." marker are written after it; a node without children drops the marker (entry).
func (w *walker) body(n *node, v reflect.Value, l lhs) (bool, error) {
	switch n.kind {
	case kPtr:
		if v.IsNil() {
			return w.null(l), nil
		}
		if l == lZero {
			l = lNull // the zero of a pointer is nil
		}
		return w.body(n.elem, v.Elem(), l)
	case kScalar:
		switch l {
		case lAbsent, lNull:
			return true, nil
		}
		return !scalarIsZero(n.goKind, v), nil
	case kBytes:
		if v.IsNil() {
			return w.null(l), nil
		}
		return true, nil // zero is nil: a non-nil []byte differs from it, or it is new
	case kOpaque:
		u, err := n.reflectEntry.ToUnstructured(v)
		if err != nil {
			return false, cannot("%v: %v", n.typ, err)
		}
		switch u.(type) {
		case map[string]any, []any:
			return false, cannot("%v turns into a non-scalar", n.typ)
		}
		if u == nil {
			if l == lZero && n.zero != nil {
				return true, nil
			}
			return w.null(l), nil
		}
		switch l {
		case lAbsent, lNull:
			return true, nil
		}
		if n.zero == nil {
			return true, nil
		}
		return !value.Equals(value.NewValueInterface(u), value.NewValueInterface(n.zero)), nil
	case kStruct:
		return w.structBody(n, v, l)
	case kMap:
		if v.IsNil() {
			return w.null(l), nil
		}
		if n.atomic || v.Len() == 0 {
			return true, nil // a new map, or a map where the empty object has null
		}
		member := l == lAbsent
		if member {
			w.member()
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			if err := w.entry(w.escaped("f:"+k.String()), n.elem, v.MapIndex(k), lAbsent); err != nil {
				return false, err
			}
		}
		return member, nil
	case kList:
		if v.IsNil() {
			return w.null(l), nil
		}
		if n.atomic || v.Len() == 0 {
			return true, nil
		}
		return w.listBody(n, v, l)
	}
	return false, cannot("%v is not modelled", n.typ)
}

// null is whether a null in the new object is owned: it is where the empty object has nothing,
// and equal to the empty object's null or nil.
func (w *walker) null(l lhs) bool { return l == lAbsent }

func scalarIsZero(k reflect.Kind, v reflect.Value) bool {
	switch k {
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.String:
		return v.Len() == 0
	}
	return false
}

func (w *walker) structBody(n *node, v reflect.Value, l lhs) (bool, error) {
	empty := true
	for i := range n.fields {
		if !n.fields[i].entry.CanOmit(n.fields[i].entry.GetFrom(v)) {
			empty = false
			break
		}
	}
	zeroEmpty := true
	if l == lZero {
		for i := range n.fields {
			if n.fields[i].zeroPresent {
				zeroEmpty = false
				break
			}
		}
	}
	if n.atomic || (empty && zeroEmpty) {
		// A leaf: owned when new, or when it differs from what the empty object holds.
		switch l {
		case lAbsent, lNull:
			return true, nil
		}
		eq, err := equalsZero(n, v)
		return !eq, err
	}
	member := l == lAbsent
	if member {
		w.member()
	}
	for i := range n.fields {
		f := &n.fields[i]
		fv := f.entry.GetFrom(v)
		if f.entry.CanOmit(fv) || (n.skip != nil && n.skip[i]) {
			continue
		}
		cl := lAbsent
		if l == lZero && f.zeroPresent {
			cl = lZero
		}
		if err := w.entry(f.key, f.n, fv, cl); err != nil {
			return false, err
		}
	}
	return member, nil
}

// equalsZero reports whether v looks, to the field manager, like the zero value of its type.
func equalsZero(n *node, v reflect.Value) (bool, error) {
	switch n.kind {
	case kScalar:
		return scalarIsZero(n.goKind, v), nil
	case kPtr, kMap, kList, kBytes:
		return v.IsNil(), nil // their zero is null; an empty map or list is not null
	case kOpaque:
		u, err := n.reflectEntry.ToUnstructured(v)
		if err != nil {
			return false, cannot("%v: %v", n.typ, err)
		}
		if u == nil || n.zero == nil {
			return u == nil && n.zero == nil, nil
		}
		return value.Equals(value.NewValueInterface(u), value.NewValueInterface(n.zero)), nil
	case kStruct:
		for i := range n.fields {
			f := &n.fields[i]
			fv := f.entry.GetFrom(v)
			omitted := f.entry.CanOmit(fv)
			if omitted != !f.zeroPresent {
				return false, nil
			}
			if omitted {
				continue
			}
			eq, err := equalsZero(f.n, fv)
			if err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	return false, cannot("%v is not modelled", n.typ)
}

type item struct {
	pe fieldpath.PathElement
	v  reflect.Value
}

func (w *walker) listBody(n *node, v reflect.Value, l lhs) (bool, error) {
	items := make([]item, v.Len())
	for i := range items {
		iv := v.Index(i)
		pe, err := pathElement(n, iv)
		if err != nil {
			return false, err
		}
		items[i] = item{pe: pe, v: iv}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].pe.Compare(items[j].pe) < 0 })
	member := l == lAbsent
	if member {
		w.member()
	}
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].pe.Compare(items[i].pe) == 0 {
			j++
		}
		s, err := fieldpath.SerializePathElement(items[i].pe)
		if err != nil {
			return false, cannot("%v", err)
		}
		if j-i > 1 {
			// Duplicates: the field manager owns the key as a whole, nothing under it.
			if w.b[len(w.b)-1] != '{' {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, w.escaped(s)...)
			w.b = append(w.b, ':', '{', '}')
		} else if err := w.entry(w.escaped(s), n.elem, items[i].v, lAbsent); err != nil {
			return false, err
		}
		i = j
	}
	return member, nil
}

// escaped returns s as a JSON string, escaped the way the FieldsV1 writer escapes keys. The bytes
// live until the next call.
func (w *walker) escaped(s string) []byte {
	w.sc.SetBuffer(w.sc.Buffer()[:0])
	w.sc.WriteString(s)
	return w.sc.Buffer()
}

// pathElement is how the field manager names a list item: by its key fields, or by its value in a set.
func pathElement(n *node, iv reflect.Value) (fieldpath.PathElement, error) {
	if !n.keyed {
		u, ok, err := scalarValue(n.elem, iv)
		if err != nil || !ok {
			return fieldpath.PathElement{}, cannot("set item of %v is not a scalar", n.typ)
		}
		val := value.NewValueInterface(u)
		return fieldpath.PathElement{Value: &val}, nil
	}
	for iv.Kind() == reflect.Ptr {
		if iv.IsNil() {
			return fieldpath.PathElement{}, cannot("nil item in a keyed list of %v", n.typ)
		}
		iv = iv.Elem()
	}
	fl := make(value.FieldList, 0, len(n.keys))
	for _, k := range n.keys {
		kv := k.entry.GetFrom(iv)
		if k.entry.CanOmit(kv) {
			if k.def != nil {
				fl = append(fl, value.Field{Name: k.name, Value: value.NewValueInterface(k.def)})
			}
			continue
		}
		u, ok, err := scalarValue(k.n, kv)
		if err != nil {
			return fieldpath.PathElement{}, err
		}
		if !ok {
			u = nil
		}
		fl = append(fl, value.Field{Name: k.name, Value: value.NewValueInterface(u)})
	}
	if len(fl) == 0 {
		return fieldpath.PathElement{}, cannot("item of %v has no key field", n.typ)
	}
	return fieldpath.PathElement{Key: &fl}, nil
}

// scalarValue is the unstructured form of a scalar (ok false for null).
func scalarValue(n *node, v reflect.Value) (any, bool, error) {
	switch n.kind {
	case kPtr:
		if v.IsNil() {
			return nil, false, nil
		}
		return scalarValue(n.elem, v.Elem())
	case kScalar:
		switch n.goKind {
		case reflect.Bool:
			return v.Bool(), true, nil
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return v.Int(), true, nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
			return int64(v.Uint()), true, nil
		case reflect.Float32, reflect.Float64:
			return v.Float(), true, nil
		case reflect.String:
			return v.String(), true, nil
		}
	case kOpaque:
		u, err := n.reflectEntry.ToUnstructured(v)
		if err != nil {
			return nil, false, cannot("%v: %v", n.typ, err)
		}
		switch u.(type) {
		case map[string]any, []any:
			return nil, false, cannot("%v turns into a non-scalar", n.typ)
		}
		return u, u != nil, nil
	}
	return nil, false, cannot("key %v is not a scalar", n.typ)
}
