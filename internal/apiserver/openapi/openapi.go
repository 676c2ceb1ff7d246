package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/openapiconv"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Subresource is a subresource served under a resource's item path.
type Subresource struct {
	// Name is the path segment: "status", "scale", "binding", ...
	Name string
	// Object is the prototype of the subresource's body; nil means the parent's type (status).
	Object runtime.Object
	// GVK is the kind of Object when it is not the parent's (autoscaling/v1 Scale for scale).
	GVK schema.GroupVersionKind
	// Verbs among get, update, patch, create; empty means get, update, patch.
	Verbs []string
}

// Resource is one resource as served at one group-version.
type Resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
	// Object and List are prototypes of the Go types, e.g. &corev1.Pod{} and &corev1.PodList{}.
	Object runtime.Object
	List   runtime.Object
	// Verbs lists the verbs served; empty means get list watch create update patch delete
	// deletecollection.
	Verbs        []string
	Subresources []Subresource
}

// groupVersionKey is the key of a group-version in the v3 index: "api/v1" or "apis/apps/v1".
func groupVersionKey(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

func validate(resources []Resource) error {
	seen := map[schema.GroupVersionResource]bool{}
	for i := range resources {
		r := &resources[i]
		switch {
		case r.GVR.Version == "" || r.GVR.Resource == "" || r.Kind == "":
			return fmt.Errorf("openapi: resource %d: GVR version, resource and Kind are required", i)
		case r.Object == nil:
			return fmt.Errorf("openapi: %s: Object prototype is required", r.GVR)
		case seen[r.GVR]:
			return fmt.Errorf("openapi: %s listed twice", r.GVR)
		}
		seen[r.GVR] = true
		for _, typ := range []runtime.Object{r.Object, r.List} {
			if typ == nil {
				continue
			}
			if t := reflect.TypeOf(typ); t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
				return fmt.Errorf("openapi: %s: prototype %T is not a pointer to a struct", r.GVR, typ)
			}
		}
	}
	return nil
}

// model is everything the documents are made of, in v2 form. It is built on demand and dropped once
// the documents are serialized: the serialized bytes are what is served and kept.
type model struct {
	defs spec.Definitions
	v3   map[string]spec.Schema
	// paths per group-version key.
	paths map[string]map[string]spec.PathItem
}

func buildModel(resources []Resource) *model {
	b := newDefBuilder(loadListTypes())
	m := &model{paths: map[string]map[string]spec.PathItem{}}
	gvs := map[schema.GroupVersion]bool{}
	for i := range resources {
		r := &resources[i]
		gv := r.GVR.GroupVersion()
		gvs[gv] = true
		key := groupVersionKey(gv)
		if m.paths[key] == nil {
			m.paths[key] = map[string]spec.PathItem{}
			m.paths[key]["/"+key+"/"] = b.apiResourcesPath(gv)
		}
		b.resourcePaths(r, m.paths[key])
		b.addGVK(reflect.TypeOf(r.Object), gv.Group, gv.Version, r.Kind)
		if r.List != nil {
			b.addGVK(reflect.TypeOf(r.List), gv.Group, gv.Version, r.Kind+"List")
		}
		for _, sub := range r.Subresources {
			if sub.Object != nil && !sub.GVK.Empty() {
				b.addGVK(reflect.TypeOf(sub.Object), sub.GVK.Group, sub.GVK.Version, sub.GVK.Kind)
			}
		}
	}
	// Like upstream, the meta types that every group-version serves carry each served
	// group-version's kind, so a client finds them from any of them.
	sorted := make([]schema.GroupVersion, 0, len(gvs))
	for gv := range gvs {
		sorted = append(sorted, gv)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].String() < sorted[j].String() })
	for _, gv := range sorted {
		b.addGVK(reflect.TypeOf(metav1.DeleteOptions{}), gv.Group, gv.Version, "DeleteOptions")
		b.addGVK(reflect.TypeOf(metav1.WatchEvent{}), gv.Group, gv.Version, "WatchEvent")
	}
	b.addGVK(reflect.TypeOf(metav1.Status{}), "", "v1", "Status")
	b.finish()
	m.defs, m.v3 = b.defs, b.v3
	return m
}

// apiResourcesPath is the group-version's root, where discovery lists its resources.
func (b *defBuilder) apiResourcesPath(gv schema.GroupVersion) spec.PathItem {
	def := b.ref(reflect.TypeOf(metav1.APIResourceList{}))
	op := &spec.Operation{OperationProps: spec.OperationProps{
		ID: "get" + groupVersionID(gv) + "APIResources", Description: "get available resources",
		Tags: []string{groupVersionTag(gv)}, Schemes: []string{"https"},
		Consumes: produces, Produces: produces,
		Responses: &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{
			200: response("OK", def), 401: response("Unauthorized", ""),
		}}},
	}}
	return spec.PathItem{PathItemProps: spec.PathItemProps{Get: op}}
}

var info = &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "unversioned"}}

// swagger is the whole v2 document.
func (m *model) swagger() *spec.Swagger {
	paths := &spec.Paths{Paths: map[string]spec.PathItem{}}
	for _, ps := range m.paths {
		for p, item := range ps {
			paths.Paths[p] = item
		}
	}
	return &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        info,
		Paths:       paths,
		Definitions: m.defs,
	}}
}

// openAPIV3 is the v3 document of one group-version: its paths and only the schemas they reach.
func (m *model) openAPIV3(key string) *spec3.OpenAPI {
	paths := m.paths[key]
	reached := map[string]bool{}
	var queue []string
	visit := func(ref spec.Ref) {
		name := strings.TrimPrefix(ref.String(), v2DefPrefix)
		if name != "" && !reached[name] {
			reached[name] = true
			queue = append(queue, name)
		}
	}
	for _, item := range paths {
		for _, op := range []*spec.Operation{item.Get, item.Put, item.Post, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			for _, p := range op.Parameters {
				if p.Schema != nil {
					walkRefs(p.Schema, visit)
				}
			}
			for _, r := range op.Responses.StatusCodeResponses {
				if r.Schema != nil {
					walkRefs(r.Schema, visit)
				}
			}
		}
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		s := m.defs[name]
		walkRefs(&s, visit)
	}
	defs := make(spec.Definitions, len(reached))
	for name := range reached {
		defs[name] = m.defs[name]
	}
	doc := openapiconv.ConvertV2ToV3(&spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        info,
		Paths:       &spec.Paths{Paths: paths},
		Definitions: defs,
	}})
	for name := range reached {
		if v3, ok := m.v3[name]; ok {
			doc.Components.Schemas[name] = &v3
		}
	}
	return doc
}

func walkRefs(s *spec.Schema, visit func(spec.Ref)) {
	if s == nil {
		return
	}
	if s.Ref.String() != "" {
		visit(s.Ref)
	}
	for _, p := range s.Properties {
		walkRefs(&p, visit)
	}
	if s.Items != nil {
		walkRefs(s.Items.Schema, visit)
		for i := range s.Items.Schemas {
			walkRefs(&s.Items.Schemas[i], visit)
		}
	}
	if s.AdditionalProperties != nil {
		walkRefs(s.AdditionalProperties.Schema, visit)
	}
	for i := range s.AllOf {
		walkRefs(&s.AllOf[i], visit)
	}
	for i := range s.OneOf {
		walkRefs(&s.OneOf[i], visit)
	}
}
