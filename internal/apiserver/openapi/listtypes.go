package openapi

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/kube-openapi/pkg/validation/spec"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// listTypes answers, for a field of a k8s.io/api type, how lists and maps merge (map lists keyed by
// fields, sets, atomic structs and maps). The +listType/+mapType markers that say so are Go comments,
// invisible to reflection; client-go carries them, per definition name, in the structured-merge-diff
// schema behind its apply configurations, which is also what server-side apply uses. Reusing that
// schema keeps the OpenAPI documents and server-side apply in agreement.
type listTypes struct {
	schema *smdschema.Schema
}

// loadListTypes reads client-go's schema. The only exported way to it is through a TypeConverter's
// typed value, whose Schema() is the whole schema, not just the converted type's. On failure it
// returns an empty listTypes: the documents are still valid, only less precise.
func loadListTypes() *listTypes {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return &listTypes{}
	}
	tc := applyconfigurations.NewTypeConverter(scheme)
	tv, err := tc.ObjectToTyped(&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}})
	if err != nil {
		return &listTypes{}
	}
	return &listTypes{schema: tv.Schema()}
}

func (l *listTypes) structMap(defName string) *smdschema.Map {
	if l == nil || l.schema == nil || defName == "" {
		return nil
	}
	td, ok := l.schema.FindNamedType(defName)
	if !ok {
		return nil
	}
	return td.Atom.Map
}

// atomicStruct reports whether the definition is a struct replaced as a whole (+structType=atomic).
func (l *listTypes) atomicStruct(defName string) bool {
	m := l.structMap(defName)
	return m != nil && len(m.Fields) > 0 && m.ElementRelationship == smdschema.Atomic
}

// annotate adds the list-type and map-type extensions of field of defName to prop.
func (l *listTypes) annotate(defName, field string, prop *spec.Schema) {
	m := l.structMap(defName)
	if m == nil {
		return
	}
	f, ok := m.FindField(field)
	if !ok {
		return
	}
	atom, ok := l.schema.Resolve(f.Type)
	if !ok {
		return
	}
	switch {
	case atom.List != nil && atom.List.ElementRelationship == smdschema.Associative:
		if len(atom.List.Keys) == 0 {
			prop.AddExtension(extListType, "set")
			return
		}
		keys := make([]interface{}, len(atom.List.Keys))
		for i, k := range atom.List.Keys {
			keys[i] = k
		}
		prop.AddExtension(extListType, "map")
		prop.AddExtension(extListMapKeys, keys)
	case atom.Map != nil && f.Type.NamedType == nil && len(atom.Map.Fields) == 0 &&
		atom.Map.ElementRelationship == smdschema.Atomic:
		prop.AddExtension(extMapType, "atomic")
	}
}
