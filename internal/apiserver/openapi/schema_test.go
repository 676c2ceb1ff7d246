package openapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

type gvkExt = map[string]interface{}

func gvkList(s spec.Schema) []gvkExt {
	raw, _ := json.Marshal(s.Extensions[extGVK])
	var out []gvkExt
	_ = json.Unmarshal(raw, &out)
	return out
}

func hasGVK(s spec.Schema, group, version, kind string) bool {
	for _, g := range gvkList(s) {
		if g["group"] == group && g["version"] == version && g["kind"] == kind {
			return true
		}
	}
	return false
}

func TestDefinitions(t *testing.T) {
	m := buildModel(testResources())
	const core, apps, meta = "io.k8s.api.core.v1.", "io.k8s.api.apps.v1.", "io.k8s.apimachinery.pkg.apis.meta.v1."
	tests := []struct {
		def   string
		check func(t *testing.T, s spec.Schema)
	}{
		{core + "Pod", func(t *testing.T, s spec.Schema) {
			if !hasGVK(s, "", "v1", "Pod") {
				t.Errorf("gvk: %v", gvkList(s))
			}
			for _, p := range []string{"apiVersion", "kind", "metadata", "spec", "status"} {
				if _, ok := s.Properties[p]; !ok {
					t.Errorf("missing property %s", p)
				}
			}
			if s.Properties["kind"].Description == "" || s.Properties["spec"].Description == "" {
				t.Errorf("inlined TypeMeta and spec need descriptions")
			}
			if md := s.Properties["metadata"]; md.Ref.String() != "#/definitions/"+meta+"ObjectMeta" {
				got := md.Ref.String()
				t.Errorf("metadata ref %q", got)
			}
			if len(s.Required) != 0 {
				t.Errorf("Pod requires nothing, got %v", s.Required)
			}
		}},
		{core + "PodList", func(t *testing.T, s spec.Schema) {
			if !hasGVK(s, "", "v1", "PodList") || !reflect.DeepEqual(s.Required, []string{"items"}) {
				t.Errorf("gvk %v required %v", gvkList(s), s.Required)
			}
		}},
		{apps + "DeploymentStrategy", func(t *testing.T, s spec.Schema) {
			ru := s.Properties["rollingUpdate"]
			if ru.Ref.String() != "#/definitions/"+apps+"RollingUpdateDeployment" || ru.Description == "" {
				t.Errorf("rollingUpdate = %+v", ru)
			}
			if s.Description != (appsv1.DeploymentStrategy{}).SwaggerDoc()[""] {
				t.Errorf("description %q", s.Description)
			}
		}},
		{apps + "DeploymentSpec", func(t *testing.T, s spec.Schema) {
			if !reflect.DeepEqual(s.Required, []string{"selector", "template"}) {
				t.Errorf("required %v", s.Required)
			}
		}},
		{apps + "DeploymentCondition", func(t *testing.T, s spec.Schema) {
			if len(s.Required) != 0 { // +optional without omitempty
				t.Errorf("required %v", s.Required)
			}
		}},
		{core + "PodSpec", func(t *testing.T, s spec.Schema) {
			if !reflect.DeepEqual(s.Required, []string{"containers"}) {
				t.Errorf("required %v", s.Required)
			}
			c := s.Properties["containers"]
			if c.Extensions[extPatchStrategy] != "merge" || c.Extensions[extPatchMergeKey] != "name" {
				t.Errorf("containers extensions %v", c.Extensions)
			}
			if c.Items == nil || c.Items.Schema.Ref.String() != "#/definitions/"+core+"Container" {
				t.Errorf("containers items %+v", c.Items)
			}
			if ns := s.Properties["nodeSelector"]; ns.Extensions[extMapType] != "atomic" ||
				ns.AdditionalProperties == nil || ns.AdditionalProperties.Schema.Type[0] != "string" {
				t.Errorf("nodeSelector %+v", ns)
			}
		}},
		{core + "Container", func(t *testing.T, s spec.Schema) {
			if !reflect.DeepEqual(s.Required, []string{"name"}) {
				t.Errorf("required %v", s.Required)
			}
			p := s.Properties["ports"]
			if p.Extensions[extListType] != "map" || !reflect.DeepEqual(p.Extensions[extListMapKeys], []interface{}{"containerPort", "protocol"}) {
				t.Errorf("ports extensions %v", p.Extensions)
			}
		}},
		{meta + "ObjectMeta", func(t *testing.T, s spec.Schema) {
			if len(s.Required) != 0 {
				t.Errorf("required %v", s.Required)
			}
			if ts := s.Properties["creationTimestamp"]; ts.Ref.String() != "#/definitions/"+meta+"Time" {
				t.Errorf("creationTimestamp %+v", ts)
			}
			if f := s.Properties["finalizers"]; f.Extensions[extPatchStrategy] != "merge" || f.Items.Schema.Type[0] != "string" {
				t.Errorf("finalizers %+v", f)
			}
		}},
		{meta + "LabelSelector", func(t *testing.T, s spec.Schema) {
			if s.Extensions[extMapType] != "atomic" {
				t.Errorf("LabelSelector is an atomic struct: %v", s.Extensions)
			}
		}},
		{meta + "Time", func(t *testing.T, s spec.Schema) {
			if s.Type[0] != "string" || s.Format != "date-time" || s.Description == "" {
				t.Errorf("%+v", s.SchemaProps)
			}
		}},
		{meta + "MicroTime", func(t *testing.T, s spec.Schema) {
			if s.Type[0] != "string" || s.Format != "date-time" {
				t.Errorf("%+v", s.SchemaProps)
			}
		}},
		{"io.k8s.apimachinery.pkg.util.intstr.IntOrString", func(t *testing.T, s spec.Schema) {
			if s.Type[0] != "string" || s.Format != "int-or-string" {
				t.Errorf("%+v", s.SchemaProps)
			}
		}},
		{"io.k8s.apimachinery.pkg.api.resource.Quantity", func(t *testing.T, s spec.Schema) {
			if s.Type[0] != "string" || s.Format != "" || len(s.Properties) != 0 {
				t.Errorf("%+v", s.SchemaProps)
			}
		}},
		{"io.k8s.apimachinery.pkg.runtime.RawExtension", func(t *testing.T, s spec.Schema) {
			if s.Type[0] != "object" || len(s.Properties) != 0 {
				t.Errorf("%+v", s.SchemaProps)
			}
		}},
		{core + "ConfigMap", func(t *testing.T, s spec.Schema) {
			bd := s.Properties["binaryData"].AdditionalProperties.Schema
			if bd.Type[0] != "string" || bd.Format != "byte" {
				t.Errorf("binaryData values %+v", bd.SchemaProps)
			}
		}},
		{core + "Event", func(t *testing.T, s spec.Schema) {
			if !hasGVK(s, "", "v1", "Event") || hasGVK(s, "events.k8s.io", "v1", "Event") {
				t.Errorf("gvk %v", gvkList(s))
			}
			if !reflect.DeepEqual(s.Required, []string{"metadata", "involvedObject"}) {
				t.Errorf("required %v", s.Required)
			}
		}},
		{"io.k8s.api.events.v1.Event", func(t *testing.T, s spec.Schema) {
			if !hasGVK(s, "events.k8s.io", "v1", "Event") || !reflect.DeepEqual(s.Required, []string{"eventTime"}) {
				t.Errorf("gvk %v required %v", gvkList(s), s.Required)
			}
		}},
		{"io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler", func(t *testing.T, s spec.Schema) {
			if !hasGVK(s, "autoscaling", "v1", "HorizontalPodAutoscaler") {
				t.Errorf("gvk %v", gvkList(s))
			}
		}},
		{"io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler", func(t *testing.T, s spec.Schema) {
			if !hasGVK(s, "autoscaling", "v2", "HorizontalPodAutoscaler") {
				t.Errorf("gvk %v", gvkList(s))
			}
		}},
		{"io.k8s.api.autoscaling.v1.Scale", func(t *testing.T, s spec.Schema) {
			if !hasGVK(s, "autoscaling", "v1", "Scale") {
				t.Errorf("gvk %v", gvkList(s))
			}
		}},
		{core + "Service", func(t *testing.T, s spec.Schema) {
			if !hasGVK(s, "", "v1", "Service") {
				t.Errorf("gvk %v", gvkList(s))
			}
		}},
		{meta + "DeleteOptions", func(t *testing.T, s spec.Schema) {
			for _, gv := range [][2]string{{"", "v1"}, {"apps", "v1"}, {"events.k8s.io", "v1"}, {"autoscaling", "v2"}} {
				if !hasGVK(s, gv[0], gv[1], "DeleteOptions") {
					t.Errorf("no DeleteOptions kind for %v", gv)
				}
			}
		}},
		{meta + "WatchEvent", func(t *testing.T, s spec.Schema) {
			if !hasGVK(s, "apps", "v1", "WatchEvent") || !reflect.DeepEqual(s.Required, []string{"type", "object"}) {
				t.Errorf("gvk %v required %v", gvkList(s), s.Required)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.def, func(t *testing.T) {
			s, ok := m.defs[tt.def]
			if !ok {
				t.Fatalf("no definition %s", tt.def)
			}
			tt.check(t, s)
		})
	}
}

// Every reference must resolve, or kubectl fails to parse the document.
func TestAllReferencesResolve(t *testing.T) {
	m := buildModel(testResources())
	for name, s := range m.defs {
		s := s
		walkRefs(&s, func(r spec.Ref) {
			if _, ok := m.defs[strings.TrimPrefix(r.String(), v2DefPrefix)]; !ok {
				t.Errorf("%s refers to missing %s", name, r.String())
			}
		})
	}
}

func TestDefinitionName(t *testing.T) {
	tests := []struct {
		v    interface{}
		want string
	}{
		{appsv1.Deployment{}, "io.k8s.api.apps.v1.Deployment"},
		{spec.Schema{}, "io.k8s.kube-openapi.pkg.validation.spec.Schema"},
	}
	for _, tt := range tests {
		if got := definitionName(reflect.TypeOf(tt.v)); got != tt.want {
			t.Errorf("definitionName(%T) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestGroupVersionNames(t *testing.T) {
	tests := []struct {
		group, version, id, tag, key string
	}{
		{"", "v1", "CoreV1", "core_v1", "api/v1"},
		{"apps", "v1", "AppsV1", "apps_v1", "apis/apps/v1"},
		{"rbac.authorization.k8s.io", "v1", "RbacAuthorizationV1", "rbacAuthorization_v1", "apis/rbac.authorization.k8s.io/v1"},
		{"autoscaling", "v2beta1", "AutoscalingV2beta1", "autoscaling_v2beta1", "apis/autoscaling/v2beta1"},
	}
	for _, tt := range tests {
		gv := appsv1.SchemeGroupVersion
		gv.Group, gv.Version = tt.group, tt.version
		if got := groupVersionID(gv); got != tt.id {
			t.Errorf("groupVersionID(%v) = %q, want %q", gv, got, tt.id)
		}
		if got := groupVersionTag(gv); got != tt.tag {
			t.Errorf("groupVersionTag(%v) = %q, want %q", gv, got, tt.tag)
		}
		if got := groupVersionKey(gv); got != tt.key {
			t.Errorf("groupVersionKey(%v) = %q, want %q", gv, got, tt.key)
		}
	}
}
