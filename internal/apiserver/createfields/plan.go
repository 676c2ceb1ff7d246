package createfields

import (
	"reflect"
	"sort"

	jsoniter "github.com/json-iterator/go"
	"sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

type kind uint8

const (
	// kUnsupported marks a node the walker does not model; reaching it with a value makes the
	// whole computation give up, so the caller falls back to the field manager.
	kUnsupported kind = iota
	kScalar           // bool, integers, floats, strings
	kBytes            // []byte: a base64 string, null when nil
	kOpaque           // a type that turns itself into an unstructured scalar (Time, Quantity, ...)
	kPtr
	kStruct
	kMap  // a Go map with string keys
	kList // a Go slice
)

// node is the plan of one Go type under one schema type.
type node struct {
	kind   kind
	typ    reflect.Type
	atomic bool

	// kScalar: the Go kind, for the zero comparison.
	goKind reflect.Kind

	// kOpaque: how the value turns unstructured, and what its zero value turns into.
	reflectEntry *value.TypeReflectCacheEntry
	zero         any

	// kPtr, kMap, kList: the element.
	elem *node

	// kStruct: fields in JSON name order, which is the order of FieldsV1.
	fields []field
	// skip, when set, drops fields from the output (the stripped metadata fields, status) while
	// they still count for whether the struct is empty, as they do for the field manager.
	skip []bool

	// kList: associative keys (sorted by name, as the path element sorts them), or a set when
	// keyed is false and the list is not atomic.
	keyed bool
	keys  []listKey
}

type field struct {
	name        string
	key         []byte // `"f:<name>"`, escaped as FieldsV1 writes it
	entry       *value.FieldCacheEntry
	n           *node
	zeroPresent bool // the field is present in the zero value of its struct
}

type listKey struct {
	name  string
	entry *value.FieldCacheEntry
	n     *node
	def   any // the schema's default, used when the item omits the key
}

type planKey struct {
	t    reflect.Type
	name string
}

type builder struct {
	s     *schema.Schema
	cache map[planKey]*node
}

func (b *builder) unsupported(t reflect.Type) *node { return &node{kind: kUnsupported, typ: t} }

// build plans Go type t under schema type tr. Named schema types are memoized, which also ends
// the recursion of self-referencing types.
func (b *builder) build(t reflect.Type, tr schema.TypeRef) *node {
	var k planKey
	if tr.NamedType != nil && tr.ElementRelationship == nil {
		k = planKey{t, *tr.NamedType}
		if n, ok := b.cache[k]; ok {
			return n
		}
	}
	n := &node{typ: t}
	if k.t != nil {
		b.cache[k] = n
	}
	b.fill(n, t, tr)
	return n
}

func onlyScalar(a schema.Atom) bool { return a.Scalar != nil && a.List == nil && a.Map == nil }
func onlyMap(a schema.Atom) bool    { return a.Map != nil && a.List == nil && a.Scalar == nil }
func onlyList(a schema.Atom) bool   { return a.List != nil && a.Map == nil && a.Scalar == nil }

func scalarFits(s schema.Scalar, k reflect.Kind) bool {
	switch s {
	case schema.Untyped:
		return true
	case schema.String:
		return k == reflect.String
	case schema.Boolean:
		return k == reflect.Bool
	case schema.Numeric:
		switch k {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Float32, reflect.Float64:
			return true
		}
	}
	return false
}

func (b *builder) fill(n *node, t reflect.Type, tr schema.TypeRef) {
	atom, ok := b.s.Resolve(tr)
	if !ok {
		return
	}
	re := value.TypeReflectEntryOf(t)
	if re.CanConvertToUnstructured() {
		if !onlyScalar(atom) {
			return
		}
		n.kind = kOpaque
		n.reflectEntry = re
		z := reflect.New(t).Elem()
		u, err := re.ToUnstructured(z)
		if err != nil {
			n.kind = kUnsupported
			return
		}
		n.zero = u
		return
	}
	switch t.Kind() {
	case reflect.Ptr:
		n.kind = kPtr
		n.elem = b.build(t.Elem(), tr)
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Float32, reflect.Float64, reflect.String:
		if !onlyScalar(atom) || !scalarFits(*atom.Scalar, t.Kind()) {
			return
		}
		n.kind = kScalar
		n.goKind = t.Kind()
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if !onlyScalar(atom) || !scalarFits(*atom.Scalar, reflect.String) {
				return
			}
			n.kind = kBytes
			return
		}
		if !onlyList(atom) {
			return
		}
		l := atom.List
		n.kind = kList
		n.elem = b.build(t.Elem(), l.ElementType)
		switch l.ElementRelationship {
		case schema.Atomic:
			n.atomic = true
		case schema.Associative:
			if len(l.Keys) == 0 {
				return // a set: items are their own path elements
			}
			n.keyed = true
			et := t.Elem()
			ea, ok := b.s.Resolve(l.ElementType)
			if et.Kind() != reflect.Struct || !ok || !onlyMap(ea) {
				n.kind = kUnsupported
				return
			}
			fields := value.TypeReflectEntryOf(et).Fields()
			zero := reflect.New(et).Elem()
			for _, name := range l.Keys {
				fe, ok := fields[name]
				sf, declared := ea.Map.FindField(name)
				if !ok || !declared {
					n.kind = kUnsupported
					return
				}
				n.keys = append(n.keys, listKey{name: name, entry: fe, n: b.build(fe.GetFrom(zero).Type(), sf.Type), def: sf.Default})
			}
			sort.SliceStable(n.keys, func(i, j int) bool { return n.keys[i].name < n.keys[j].name })
		default:
			n.kind = kUnsupported // a granular list cannot be indexed by the field manager either
		}
	case reflect.Map:
		if t.Key().Kind() != reflect.String || !onlyMap(atom) || len(atom.Map.Fields) > 0 {
			return
		}
		n.kind = kMap
		n.atomic = atom.Map.ElementRelationship == schema.Atomic
		n.elem = b.build(t.Elem(), atom.Map.ElementType)
	case reflect.Struct:
		if !onlyMap(atom) {
			return
		}
		m := atom.Map
		n.kind = kStruct
		n.atomic = m.ElementRelationship == schema.Atomic
		zero := reflect.New(t).Elem()
		for _, fe := range re.OrderedFields() {
			zf := fe.GetFrom(zero)
			f := field{name: fe.JsonName, key: fieldKey(fe.JsonName), entry: fe, zeroPresent: !fe.CanOmit(zf)}
			if sf, ok := m.FindField(fe.JsonName); ok {
				f.n = b.build(zf.Type(), sf.Type)
			} else if (m.ElementType != schema.TypeRef{}) {
				f.n = b.build(zf.Type(), m.ElementType)
			} else {
				f.n = b.unsupported(zf.Type())
			}
			n.fields = append(n.fields, f)
		}
	}
}

var jsonAPI = jsoniter.ConfigCompatibleWithStandardLibrary

// fieldKey escapes "f:<name>" as the FieldsV1 writer does.
func fieldKey(name string) []byte {
	s := jsonAPI.BorrowStream(nil)
	defer jsonAPI.ReturnStream(s)
	s.WriteString("f:" + name)
	return append([]byte(nil), s.Buffer()...)
}

// withSkip returns a shallow copy of struct node n that leaves the named fields out of the output.
func withSkip(n *node, names ...string) *node {
	c := *n
	c.skip = make([]bool, len(n.fields))
	for i, f := range n.fields {
		for _, s := range names {
			if f.name == s {
				c.skip[i] = true
			}
		}
	}
	return &c
}

// withField returns a shallow copy of struct node n whose named field is planned as r.
func withField(n *node, name string, r *node) *node {
	c := *n
	c.fields = append([]field(nil), n.fields...)
	for i := range c.fields {
		if c.fields[i].name == name {
			c.fields[i].n = r
		}
	}
	return &c
}
