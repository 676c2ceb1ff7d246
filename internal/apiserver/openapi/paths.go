package openapi

import (
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

var (
	// Responses are offered in every encoding the API server speaks.
	produces      = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	producesWatch = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	consumesAny   = []string{"*/*"}
	consumesPatch = []string{"application/json-patch+json", "application/merge-patch+json",
		"application/strategic-merge-patch+json", "application/apply-patch+yaml"}
)

const (
	metaPkg = "io.k8s.apimachinery.pkg.apis.meta.v1."
)

// queryParams turns an options struct (metav1.ListOptions, CreateOptions, ...) into query
// parameters, the way the API server decodes them: one parameter per JSON field, described by the
// struct's own SwaggerDoc. Struct-valued fields (preconditions) only travel in bodies.
func queryParams(opts interface{}, skip ...string) []spec.Parameter {
	t := reflect.TypeOf(opts)
	var docs map[string]string
	if d, ok := opts.(swaggerDocer); ok {
		docs = d.SwaggerDoc()
	}
	var out []spec.Parameter
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			continue // TypeMeta
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || contains(skip, name) {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		var typ string
		switch ft.Kind() {
		case reflect.String, reflect.Slice:
			typ = "string"
		case reflect.Bool:
			typ = "boolean"
		case reflect.Int, reflect.Int32, reflect.Int64:
			typ = "integer"
		default:
			continue
		}
		out = append(out, simpleParam("query", name, typ, docs[name]))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var (
	listParams   = queryParams(metav1.ListOptions{})
	createParams = queryParams(metav1.CreateOptions{})
	updateParams = queryParams(metav1.UpdateOptions{})
	patchParams  = queryParams(metav1.PatchOptions{})
	deleteParams = queryParams(metav1.DeleteOptions{}, "preconditions")
)

// simpleParam is a non-body parameter; uniqueItems is what upstream puts on every one of them.
func simpleParam(in, name, typ, desc string) spec.Parameter {
	return spec.Parameter{
		ParamProps:        spec.ParamProps{Name: name, In: in, Description: desc, Required: in == "path"},
		SimpleSchema:      spec.SimpleSchema{Type: typ},
		CommonValidations: spec.CommonValidations{UniqueItems: true},
	}
}

func pathParam(name, desc string) spec.Parameter { return simpleParam("path", name, "string", desc) }

func prettyParam() spec.Parameter {
	return simpleParam("query", "pretty", "string", "If 'true', the response is indented for humans to read.")
}

func bodyParam(defName string) spec.Parameter {
	s := refSchema(defName)
	return spec.Parameter{ParamProps: spec.ParamProps{Name: "body", In: "body", Required: true, Schema: &s}}
}

func response(desc, defName string) spec.Response {
	r := spec.Response{ResponseProps: spec.ResponseProps{Description: desc}}
	if defName != "" {
		s := refSchema(defName)
		r.Schema = &s
	}
	return r
}

// groupVersionID is the group-version part of upstream's operationIds: "apps" -> "AppsV1", "" -> "CoreV1",
// "rbac.authorization.k8s.io" -> "RbacAuthorizationV1".
func groupVersionID(gv schema.GroupVersion) string {
	g := gv.Group
	if g == "" {
		g = "core"
	}
	g = strings.TrimSuffix(g, ".k8s.io")
	var b strings.Builder
	for _, part := range strings.FieldsFunc(g, func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(upperFirst(part))
	}
	b.WriteString(upperFirst(gv.Version))
	return b.String()
}

// groupVersionTag is the operation tag upstream uses: "core_v1", "apps_v1", "rbacAuthorization_v1".
func groupVersionTag(gv schema.GroupVersion) string {
	id := groupVersionID(schema.GroupVersion{Group: gv.Group})
	return strings.ToLower(id[:1]) + id[1:] + "_" + gv.Version
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// opBuilder carries what every operation of one resource shares.
type opBuilder struct {
	gv   schema.GroupVersion
	tag  string
	gvid string
}

type opSpec struct {
	id, desc, action string
	gvk              schema.GroupVersionKind
	params           []spec.Parameter
	body             string // definition name of the request body, if any
	consumes         []string
	produces         []string
	responses        map[int]string // status code -> definition name ("" for no body)
}

var statusText = map[int]string{200: "OK", 201: "Created", 202: "Accepted", 401: "Unauthorized"}

func (o opBuilder) op(s opSpec) *spec.Operation {
	op := &spec.Operation{OperationProps: spec.OperationProps{
		ID: s.id, Description: s.desc, Tags: []string{o.tag}, Schemes: []string{"https"},
		Consumes: s.consumes, Produces: s.produces,
	}}
	if s.body != "" {
		op.Parameters = append(op.Parameters, bodyParam(s.body))
	}
	op.Parameters = append(op.Parameters, s.params...)
	op.Responses = &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{}}}
	for code, def := range s.responses {
		op.Responses.StatusCodeResponses[code] = response(statusText[code], def)
	}
	op.Responses.StatusCodeResponses[401] = response(statusText[401], "")
	op.AddExtension("x-kubernetes-action", s.action)
	op.AddExtension(extGVK, map[string]interface{}{"group": s.gvk.Group, "version": s.gvk.Version, "kind": s.gvk.Kind})
	return op
}

func concat(lists ...[]spec.Parameter) []spec.Parameter {
	var out []spec.Parameter
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// resourcePaths adds the paths of one resource (and its subresources) to paths, shaped as upstream's:
// collection, item, subresources and the legacy /watch/ paths, each with the verbs served.
func (b *defBuilder) resourcePaths(r *Resource, paths map[string]spec.PathItem) {
	gv := r.GVR.GroupVersion()
	o := opBuilder{gv: gv, tag: groupVersionTag(gv), gvid: groupVersionID(gv)}
	gvk := gv.WithKind(r.Kind)
	objDef := b.ref(reflect.TypeOf(r.Object))
	listDef := ""
	if r.List != nil {
		listDef = b.ref(reflect.TypeOf(r.List))
	}
	verbs := r.Verbs
	if len(verbs) == 0 {
		verbs = defaultVerbs
	}
	has := func(v string) bool { return contains(verbs, v) }

	prefix := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		prefix = "/api/" + gv.Version
	}
	scope, ns := "", ""
	nsParam := pathParam("namespace", "namespace of the object(s)")
	nameParam := pathParam("name", "name of the "+r.Kind)
	var collParams, itemParams []spec.Parameter
	if r.Namespaced {
		scope, ns = "Namespaced", "/namespaces/{namespace}"
		collParams = []spec.Parameter{nsParam, prettyParam()}
		itemParams = []spec.Parameter{nameParam, nsParam, prettyParam()}
	} else {
		collParams = []spec.Parameter{prettyParam()}
		itemParams = []spec.Parameter{nameParam, prettyParam()}
	}
	statusDef := metaPkg + "Status"
	deleteOptsDef := metaPkg + "DeleteOptions"
	watchEventDef := metaPkg + "WatchEvent"
	b.ref(reflect.TypeOf(metav1.Status{}))
	b.ref(reflect.TypeOf(metav1.DeleteOptions{}))
	b.ref(reflect.TypeOf(metav1.WatchEvent{}))
	b.ref(reflect.TypeOf(metav1.Patch{}))
	id := func(verb, suffix string) string { return verb + o.gvid + scope + r.Kind + suffix }

	coll := spec.PathItem{}
	coll.Parameters = collParams
	if has("list") && listDef != "" {
		coll.Get = o.op(opSpec{id: id("list", ""), desc: "list or watch objects of kind " + r.Kind, action: "list", gvk: gvk,
			params: listParams, consumes: consumesAny, produces: producesWatch, responses: map[int]string{200: listDef}})
	}
	if has("create") {
		coll.Post = o.op(opSpec{id: id("create", ""), desc: "create a " + r.Kind, action: "post", gvk: gvk,
			params: createParams, body: objDef, consumes: consumesAny, produces: produces,
			responses: map[int]string{200: objDef, 201: objDef, 202: objDef}})
	}
	if has("deletecollection") {
		coll.Delete = o.op(opSpec{id: "delete" + o.gvid + "Collection" + scope + r.Kind, desc: "delete collection of " + r.Kind,
			action: "deletecollection", gvk: gvk, params: concat(deleteParams, listParams), body: deleteOptsDef,
			consumes: consumesAny, produces: produces, responses: map[int]string{200: statusDef}})
	}
	if coll.Get != nil || coll.Post != nil || coll.Delete != nil {
		paths[prefix+ns+"/"+r.GVR.Resource] = coll
	}

	item := spec.PathItem{}
	item.Parameters = itemParams
	if has("get") {
		item.Get = o.op(opSpec{id: id("read", ""), desc: "read the specified " + r.Kind, action: "get", gvk: gvk,
			consumes: consumesAny, produces: produces, responses: map[int]string{200: objDef}})
	}
	if has("update") {
		item.Put = o.op(opSpec{id: id("replace", ""), desc: "replace the specified " + r.Kind, action: "put", gvk: gvk,
			params: updateParams, body: objDef, consumes: consumesAny, produces: produces,
			responses: map[int]string{200: objDef, 201: objDef}})
	}
	if has("patch") {
		item.Patch = o.op(opSpec{id: id("patch", ""), desc: "partially update the specified " + r.Kind, action: "patch", gvk: gvk,
			params: patchParams, body: metaPkg + "Patch", consumes: consumesPatch, produces: produces,
			responses: map[int]string{200: objDef, 201: objDef}})
	}
	if has("delete") {
		item.Delete = o.op(opSpec{id: id("delete", ""), desc: "delete a " + r.Kind, action: "delete", gvk: gvk,
			params: deleteParams, body: deleteOptsDef, consumes: consumesAny, produces: produces,
			responses: map[int]string{200: statusDef, 202: statusDef}})
	}
	if item.Get != nil || item.Put != nil || item.Patch != nil || item.Delete != nil {
		paths[prefix+ns+"/"+r.GVR.Resource+"/{name}"] = item
	}

	for _, sub := range r.Subresources {
		b.subresourcePaths(o, r, sub, scope, prefix+ns+"/"+r.GVR.Resource+"/{name}/"+sub.Name, itemParams, paths)
	}

	if has("watch") {
		w := func(p, opid, desc, action string, params []spec.Parameter) {
			item := spec.PathItem{}
			item.Parameters = concat(params, listParams)
			item.Get = o.op(opSpec{id: opid, desc: desc, action: action, gvk: gvk, consumes: consumesAny,
				produces: producesWatch, responses: map[int]string{200: watchEventDef}})
			paths[p] = item
		}
		w(prefix+"/watch"+ns+"/"+r.GVR.Resource, id("watch", "List"),
			"watch changes to "+r.Kind+" objects; deprecated in favour of the list operation with watch=true",
			"watchlist", collParams)
		w(prefix+"/watch"+ns+"/"+r.GVR.Resource+"/{name}", id("watch", ""),
			"watch changes to one "+r.Kind+"; deprecated in favour of the list operation with watch=true and a metadata.name field selector",
			"watch", itemParams)
		if r.Namespaced {
			w(prefix+"/watch/"+r.GVR.Resource, "watch"+o.gvid+r.Kind+"ListForAllNamespaces",
				"watch changes to "+r.Kind+" objects; deprecated in favour of the list operation with watch=true",
				"watchlist", []spec.Parameter{prettyParam()})
		}
	}
	if r.Namespaced && has("list") && listDef != "" {
		all := spec.PathItem{}
		all.Parameters = []spec.Parameter{prettyParam()}
		all.Get = o.op(opSpec{id: "list" + o.gvid + r.Kind + "ForAllNamespaces", desc: "list or watch objects of kind " + r.Kind,
			action: "list", gvk: gvk, params: listParams, consumes: consumesAny, produces: producesWatch,
			responses: map[int]string{200: listDef}})
		paths[prefix+"/"+r.GVR.Resource] = all
	}
}

func (b *defBuilder) subresourcePaths(o opBuilder, r *Resource, sub Subresource, scope, path string, params []spec.Parameter, paths map[string]spec.PathItem) {
	obj := sub.Object
	if obj == nil {
		obj = r.Object
	}
	def := b.ref(reflect.TypeOf(obj))
	gvk := sub.GVK
	if gvk.Empty() {
		gvk = o.gv.WithKind(r.Kind)
	}
	suffix := upperFirst(sub.Name)
	id := func(verb string) string { return verb + o.gvid + scope + r.Kind + suffix }
	verbs := sub.Verbs
	if len(verbs) == 0 {
		verbs = []string{"get", "update", "patch"}
	}
	item := spec.PathItem{}
	item.Parameters = params
	for _, v := range verbs {
		switch v {
		case "get":
			item.Get = o.op(opSpec{id: id("read"), desc: "read " + sub.Name + " of the specified " + r.Kind, action: "get", gvk: gvk,
				consumes: consumesAny, produces: produces, responses: map[int]string{200: def}})
		case "update":
			item.Put = o.op(opSpec{id: id("replace"), desc: "replace " + sub.Name + " of the specified " + r.Kind, action: "put", gvk: gvk,
				params: updateParams, body: def, consumes: consumesAny, produces: produces,
				responses: map[int]string{200: def, 201: def}})
		case "patch":
			item.Patch = o.op(opSpec{id: id("patch"), desc: "partially update " + sub.Name + " of the specified " + r.Kind, action: "patch", gvk: gvk,
				params: patchParams, body: metaPkg + "Patch", consumes: consumesPatch, produces: produces,
				responses: map[int]string{200: def, 201: def}})
		case "create":
			item.Post = o.op(opSpec{id: id("create"), desc: "create " + sub.Name + " of a " + r.Kind, action: "post", gvk: gvk,
				params: createParams, body: def, consumes: consumesAny, produces: produces,
				responses: map[int]string{200: def, 201: def, 202: def}})
		}
	}
	paths[path] = item
}

var defaultVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
