package openapi

import (
	"reflect"
	"strings"

	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

const (
	v2DefPrefix = "#/definitions/"

	extGVK            = "x-kubernetes-group-version-kind"
	extPatchStrategy  = "x-kubernetes-patch-strategy"
	extPatchMergeKey  = "x-kubernetes-patch-merge-key"
	extListType       = "x-kubernetes-list-type"
	extListMapKeys    = "x-kubernetes-list-map-keys"
	extMapType        = "x-kubernetes-map-type"
	extPreserveFields = "x-kubernetes-preserve-unknown-fields"
)

// The interfaces below are the hooks apimachinery puts on the types whose JSON form is not their Go
// shape (Time, Quantity, IntOrString, Duration, ...). Asking the type keeps this package free of a
// hand-kept list of special cases.
type (
	swaggerDocer   interface{ SwaggerDoc() map[string]string }
	modelNamer     interface{ OpenAPIModelName() string }
	schemaTyper    interface{ OpenAPISchemaType() []string }
	schemaFormater interface{ OpenAPISchemaFormat() string }
	v3OneOfTyper   interface{ OpenAPIV3OneOfTypes() []string }
)

var byteSliceType = reflect.TypeOf([]byte(nil))

// typeDocs describes the apimachinery types that carry no SwaggerDoc (their JSON form is custom).
var typeDocs = map[string]string{
	"io.k8s.apimachinery.pkg.util.intstr.IntOrString": "IntOrString holds either an integer or a string: " +
		"the JSON value is a number or a string, such as 8080 or \"http\" for a port, 3 or \"25%\" for a count.",
	"io.k8s.apimachinery.pkg.api.resource.Quantity": "Quantity is an exact decimal number with an optional unit suffix, " +
		"written as a string such as \"100m\" (0.1), \"1.5\", \"128Mi\" (binary SI: Ki, Mi, Gi, Ti, Pi, Ei), " +
		"\"2G\" (decimal SI: k, M, G, T, P, E) or \"1e3\". It is serialized in canonical form, so a value may " +
		"come back spelled differently from how it was sent.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.Time": "Time is a timestamp in RFC 3339 form with second precision, " +
		"such as \"2024-01-02T15:04:05Z\".",
	"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime is a timestamp in RFC 3339 form with " +
		"microsecond precision, such as \"2024-01-02T15:04:05.000000Z\".",
	"io.k8s.apimachinery.pkg.apis.meta.v1.Duration": "Duration is a length of time written as a Go duration " +
		"string, such as \"30s\" or \"1h5m\".",
	"io.k8s.apimachinery.pkg.runtime.RawExtension": "RawExtension holds an embedded object of any kind, " +
		"written inline as JSON; its kind and apiVersion say what it is.",
}

// defBuilder turns Go types into OpenAPI v2 definitions, keyed by upstream's definition names. It
// only produces the v2 form; v3 is derived from it (see v3.go), so the two can never disagree.
type defBuilder struct {
	defs  spec.Definitions
	names map[reflect.Type]string
	// v3 holds the definitions whose v3 form is not a mechanical conversion of the v2 one.
	v3   map[string]spec.Schema
	smd  *listTypes
	gvks map[string][]map[string]interface{}
}

func newDefBuilder(lt *listTypes) *defBuilder {
	return &defBuilder{
		defs:  spec.Definitions{},
		names: map[reflect.Type]string{},
		v3:    map[string]spec.Schema{},
		smd:   lt,
		gvks:  map[string][]map[string]interface{}{},
	}
}

// definitionName is the name upstream gives the type: its own OpenAPIModelName when generated, else
// the package path with its domain reversed (k8s.io/api/core/v1.Pod -> io.k8s.api.core.v1.Pod).
func definitionName(t reflect.Type) string {
	if n, ok := reflect.New(t).Elem().Interface().(modelNamer); ok {
		return n.OpenAPIModelName()
	}
	return util.ToRESTFriendlyName(t.PkgPath() + "." + t.Name())
}

func refSchema(name string) spec.Schema {
	return spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(v2DefPrefix + name)}}
}

// addGVK records that the definition of t is the kind gvk, for x-kubernetes-group-version-kind.
func (b *defBuilder) addGVK(t reflect.Type, group, version, kind string) string {
	name := b.ref(t)
	for _, g := range b.gvks[name] {
		if g["group"] == group && g["version"] == version && g["kind"] == kind {
			return name
		}
	}
	b.gvks[name] = append(b.gvks[name], map[string]interface{}{"group": group, "version": version, "kind": kind})
	return name
}

// finish attaches the recorded GVKs; it runs once all resources have been walked.
func (b *defBuilder) finish() {
	for name, list := range b.gvks {
		def := b.defs[name]
		l := make([]interface{}, len(list))
		for i := range list {
			l[i] = list[i]
		}
		def.AddExtension(extGVK, l)
		b.defs[name] = def
	}
}

// ref makes sure the definition of the struct (or specially typed) t exists and returns its name.
func (b *defBuilder) ref(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := b.names[t]; ok {
		return name
	}
	name := definitionName(t)
	b.names[t] = name
	// Reserve the name first: types refer to themselves (JSONSchemaProps) or to each other.
	b.defs[name] = spec.Schema{}
	b.defs[name] = b.definition(t, name)
	return name
}

func (b *defBuilder) definition(t reflect.Type, name string) spec.Schema {
	zero := reflect.New(t).Elem().Interface()
	var s spec.Schema
	if d, ok := zero.(swaggerDocer); ok {
		s.Description = d.SwaggerDoc()[""]
	}
	if s.Description == "" {
		s.Description = typeDocs[name]
	}
	if typer, ok := zero.(schemaTyper); ok {
		s.Type = typer.OpenAPISchemaType()
		if f, ok := zero.(schemaFormater); ok {
			s.Format = f.OpenAPISchemaFormat()
		}
		if o, ok := zero.(v3OneOfTyper); ok {
			v3 := spec.Schema{SchemaProps: spec.SchemaProps{Description: s.Description, Format: s.Format}}
			for _, typ := range o.OpenAPIV3OneOfTypes() {
				v3.OneOf = append(v3.OneOf, spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{typ}}})
			}
			b.v3[name] = v3
		}
		return s
	}
	if t.Kind() != reflect.Struct {
		// A named non-struct type only becomes a definition through the typer hooks above.
		inline := b.schemaFor(t)
		inline.Description = s.Description
		return inline
	}
	s.Type = []string{"object"}
	b.addFields(t, name, &s)
	if b.smd.atomicStruct(name) {
		s.AddExtension(extMapType, "atomic")
	}
	return s
}

// addFields adds the JSON-visible fields of struct t to s, following encoding/json's rules for
// tags and embedding. owner is the definition the fields belong to (the outer type for inlined
// embedded structs), used to look up list semantics and required-field exceptions.
func (b *defBuilder) addFields(t reflect.Type, owner string, s *spec.Schema) {
	var docs map[string]string
	if d, ok := reflect.New(t).Elem().Interface().(swaggerDocer); ok {
		docs = d.SwaggerDoc()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				b.addFields(ft, owner, s)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		prop := b.schemaFor(f.Type)
		prop.Description = docs[name]
		if v := f.Tag.Get("patchStrategy"); v != "" {
			prop.AddExtension(extPatchStrategy, v)
		}
		if v := f.Tag.Get("patchMergeKey"); v != "" {
			prop.AddExtension(extPatchMergeKey, v)
		}
		b.smd.annotate(owner, name, &prop)
		if s.Properties == nil {
			s.Properties = map[string]spec.Schema{}
		}
		s.Properties[name] = prop
		if isRequired(opts) && !notRequired[owner][name] {
			s.Required = append(s.Required, name)
		}
	}
}

// isRequired is upstream's rule as far as reflection sees it: a field without omitempty is
// required. The exceptions upstream makes from +optional comments are in notRequired.
func isRequired(opts string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == "omitempty" || o == "omitzero" || o == "inline" {
			return false
		}
	}
	return true
}

// schemaFor is the schema of a value of type t where it appears (a property, an item, a map value):
// structs and specially typed values are references, everything else is inlined.
func (b *defBuilder) schemaFor(t reflect.Type) spec.Schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == byteSliceType {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}, Format: "byte"}}
	}
	if t.Name() != "" && t.PkgPath() != "" {
		if _, ok := reflect.New(t).Elem().Interface().(schemaTyper); ok {
			return refSchema(b.ref(t))
		}
		if t.Kind() == reflect.Struct {
			if t.PkgPath() == "time" && t.Name() == "Time" {
				return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}, Format: "date-time"}}
			}
			return refSchema(b.ref(t))
		}
	}
	var s spec.Schema
	switch t.Kind() {
	case reflect.String:
		s.Type = []string{"string"}
	case reflect.Bool:
		s.Type = []string{"boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		s.Type, s.Format = []string{"integer"}, "int32"
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		s.Type, s.Format = []string{"integer"}, "int64"
	case reflect.Float32:
		s.Type, s.Format = []string{"number"}, "float"
	case reflect.Float64:
		s.Type, s.Format = []string{"number"}, "double"
	case reflect.Slice, reflect.Array:
		item := b.schemaFor(t.Elem())
		s.Type = []string{"array"}
		s.Items = &spec.SchemaOrArray{Schema: &item}
	case reflect.Map:
		val := b.schemaFor(t.Elem())
		s.Type = []string{"object"}
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &val}
	case reflect.Struct:
		s.Type = []string{"object"}
		b.addFields(t, "", &s)
	case reflect.Interface:
		// Arbitrary JSON: say so rather than claim an empty object.
		s.Type = []string{"object"}
		s.AddExtension(extPreserveFields, true)
	}
	return s
}
