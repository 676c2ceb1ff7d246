package openapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util/proto"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"

	protobuf "google.golang.org/protobuf/proto"
)

func newTestServer(t *testing.T) (*Service, *httptest.Server, *rest.Config) {
	t.Helper()
	svc, err := New(testResources())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return svc, srv, &rest.Config{Host: srv.URL}
}

func TestLazyBuild(t *testing.T) {
	svc, srv, _ := newTestServer(t)
	if svc.v2 != nil || svc.v3 != nil {
		t.Fatal("documents built before any request")
	}
	resp, err := http.Get(srv.URL + "/openapi/v3")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if svc.v3 == nil || svc.v2 != nil {
		t.Fatalf("after a v3 request: v3 built %v, v2 built %v", svc.v3 != nil, svc.v2 != nil)
	}
}

func TestExplainThroughClientGo(t *testing.T) {
	_, _, cfg := newTestServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := openapi.NewClient(dc.RESTClient())
	paths, err := client.Paths()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"api/v1", "apis/apps/v1", "apis/events.k8s.io/v1", "apis/autoscaling/v1", "apis/autoscaling/v2"} {
		if _, ok := paths[key]; !ok {
			t.Errorf("index lacks %s: %v", key, paths)
		}
	}

	tests := []struct {
		gvr    schema.GroupVersionResource
		fields []string
		want   []string
	}{
		{appsv1.SchemeGroupVersion.WithResource("deployments"), []string{"spec", "strategy"}, []string{
			"GROUP:      apps", "KIND:       Deployment", "FIELD: strategy <DeploymentStrategy>",
			appsv1.DeploymentSpec{}.SwaggerDoc()["strategy"],
			"rollingUpdate\t<RollingUpdateDeployment>", appsv1.DeploymentStrategy{}.SwaggerDoc()["rollingUpdate"],
			"type\t<string>",
		}},
		{schema.GroupVersionResource{Version: "v1", Resource: "pods"}, []string{"spec", "containers"}, []string{
			"KIND:       Pod", "FIELD: containers <[]Container>", "name\t<string> -required-", "ports\t<[]ContainerPort>",
		}},
		{schema.GroupVersionResource{Group: "events.k8s.io", Version: "v1", Resource: "events"}, nil, []string{
			"GROUP:      events.k8s.io", "eventTime\t<string> -required-",
		}},
		{schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}, []string{"spec"}, []string{
			"VERSION:    v2", "metrics\t<[]MetricSpec>",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.gvr.String(), func(t *testing.T) {
			var out bytes.Buffer
			if err := explainv2.PrintModelDescription(tt.fields, &out, client, tt.gvr, false, 0, "plaintext"); err != nil {
				t.Fatal(err)
			}
			// explain wraps long lines; compare with whitespace folded.
			got := strings.Join(strings.Fields(out.String()), " ")
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) && !strings.Contains(got, strings.Join(strings.Fields(w), " ")) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestFieldValidationVerifier(t *testing.T) {
	_, _, cfg := newTestServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v3 := resource.NewQueryParamVerifierV3(dyn, openapi.NewClient(dc.RESTClient()), resource.QueryParamFieldValidation)
	v2 := resource.NewQueryParamVerifier(dyn, dc, resource.QueryParamFieldValidation)
	tests := []struct {
		gvk  schema.GroupVersionKind
		want bool
	}{
		{appsv1.SchemeGroupVersion.WithKind("Deployment"), true},
		{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, true},
		{schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}, true},
		{appsv1.SchemeGroupVersion.WithKind("NoSuchKind"), false},
	}
	for _, tt := range tests {
		if err := v3.HasSupport(tt.gvk); (err == nil) != tt.want {
			t.Errorf("v3 HasSupport(%v) = %v, want support %v", tt.gvk, err, tt.want)
		}
		if err := v2.HasSupport(tt.gvk); (err == nil) != tt.want {
			t.Errorf("v2 HasSupport(%v) = %v, want support %v", tt.gvk, err, tt.want)
		}
	}
}

// kubectl's client-side validation reads /openapi/v2 as protobuf and parses it with util/proto.
func TestV2ClientSideValidation(t *testing.T) {
	_, _, cfg := newTestServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := dc.OpenAPISchema() // protobuf
	if err != nil {
		t.Fatal(err)
	}
	models, err := proto.NewOpenAPIData(doc)
	if err != nil {
		t.Fatal(err)
	}
	if models.LookupModel("io.k8s.api.apps.v1.Deployment") == nil {
		t.Fatal("no Deployment model")
	}
	resources, err := kubectlopenapi.NewOpenAPIData(doc)
	if err != nil {
		t.Fatal(err)
	}
	if resources.LookupResource(appsv1.SchemeGroupVersion.WithKind("Deployment")) == nil {
		t.Fatal("Deployment not found by GVK")
	}

	v := validation.NewSchemaValidation(resourcesGetter{resources})
	tests := []struct {
		name, manifest string
		valid          bool
	}{
		{"deployment", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":1}},
"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.27",
"ports":[{"containerPort":80}],"resources":{"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":0.1}}}]}}}}`, true},
		{"service", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":"http"}]}}`, true},
		{"configmap", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","creationTimestamp":null},"data":{"a":"b"},"binaryData":{"x":"aGk="}}`, true},
		{"hpa v2", `{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"},"spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":3,
"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}}]}}`, true},
		{"unknown field", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicaz":2,"selector":{},"template":{}}}`, false},
		{"missing container name", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"image":"nginx"}]}}`, false},
		{"wrong type", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":"two","selector":{},"template":{}}}`, false},
	}
	for _, tt := range tests {
		err := v.ValidateBytes([]byte(tt.manifest))
		if (err == nil) != tt.valid {
			t.Errorf("%s: ValidateBytes = %v, want valid %v", tt.name, err, tt.valid)
		}
	}
}

// resourcesGetter hands kubectl's validator the parsed document, as kubectl's factory does.
type resourcesGetter struct{ r kubectlopenapi.Resources }

func (g resourcesGetter) OpenAPISchema() (kubectlopenapi.Resources, error) { return g.r, nil }

func TestV3DocumentPerGroupVersion(t *testing.T) {
	svc, _, _ := newTestServer(t)
	data, err := svc.V3JSON("apis/apps/v1")
	if err != nil {
		t.Fatal(err)
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for p := range doc.Paths.Paths {
		if !strings.HasPrefix(p, "/apis/apps/v1/") {
			t.Errorf("foreign path %s", p)
		}
	}
	for _, p := range []string{
		"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
		"/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}",
		"/apis/apps/v1/deployments",
		"/apis/apps/v1/",
	} {
		if _, ok := doc.Paths.Paths[p]; !ok {
			t.Errorf("missing path %s", p)
		}
	}
	schemas := doc.Components.Schemas
	for _, want := range []string{"io.k8s.api.apps.v1.Deployment", "io.k8s.api.core.v1.PodSpec", "io.k8s.api.autoscaling.v1.Scale"} {
		if schemas[want] == nil {
			t.Errorf("missing schema %s", want)
		}
	}
	for _, unwanted := range []string{"io.k8s.api.batch.v1.Job", "io.k8s.api.core.v1.ConfigMap", "io.k8s.api.core.v1.Node"} {
		if schemas[unwanted] != nil {
			t.Errorf("schema %s is not reachable from apps/v1", unwanted)
		}
	}
	ios := schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
	if ios == nil || len(ios.OneOf) != 2 || ios.Format != "int-or-string" || len(ios.Type) != 0 {
		t.Errorf("v3 IntOrString = %+v", ios)
	}
	// A property that refers to a definition and has its own description must wrap the reference
	// in allOf, or v3 readers (kubectl explain) drop the description.
	strategy := schemas["io.k8s.api.apps.v1.DeploymentSpec"].Properties["strategy"]
	if len(strategy.AllOf) != 1 || strategy.AllOf[0].Ref.String() != "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy" || strategy.Description == "" {
		t.Errorf("strategy = %+v", strategy)
	}
	patch := doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].Patch
	if patch.OperationId != "patchAppsV1NamespacedDeployment" || patch.Extensions["x-kubernetes-action"] != "patch" {
		t.Errorf("patch op = %s %v", patch.OperationId, patch.Extensions)
	}
	if patch.RequestBody == nil || patch.RequestBody.Content["application/strategic-merge-patch+json"] == nil {
		t.Errorf("patch body %+v", patch.RequestBody)
	}
	list := doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments"].Get
	var names []string
	for _, p := range list.Parameters {
		names = append(names, p.Name)
	}
	for _, want := range []string{"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch", "timeoutSeconds"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("list parameters %v lack %s", names, want)
		}
	}
}

func TestHTTP(t *testing.T) {
	_, srv, _ := newTestServer(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp := get("/openapi/v3")
	var index handler3.OpenAPIV3Discovery
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatal(err)
	}
	apps := index.Paths["apis/apps/v1"].ServerRelativeURL
	if !strings.HasPrefix(apps, "/openapi/v3/apis/apps/v1?hash=") {
		t.Fatalf("apps url %q", apps)
	}

	tests := []struct {
		name       string
		path       string
		header     []string
		wantStatus int
		wantType   string
	}{
		{"v2 json", "/openapi/v2", nil, 200, "application/json"},
		{"v2 protobuf", "/openapi/v2", []string{"Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}, 200, mimeV2PB},
		{"v2 not acceptable", "/openapi/v2", []string{"Accept", "text/html"}, 406, ""},
		{"v3 with hash", apps, nil, 200, "application/json"},
		{"v3 protobuf", apps, []string{"Accept", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"}, 200, mimeV3PB},
		{"v3 stale hash", "/openapi/v3/apis/apps/v1?hash=ABC", nil, 301, ""},
		{"v3 unknown group-version", "/openapi/v3/apis/nope/v1", nil, 404, ""},
		{"unknown path", "/openapi/v4", nil, 404, ""},
	}
	for _, tt := range tests {
		resp := get(tt.path, tt.header...)
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.wantStatus)
		}
		if tt.wantType != "" && resp.Header.Get("Content-Type") != tt.wantType {
			t.Errorf("%s: content type %q", tt.name, resp.Header.Get("Content-Type"))
		}
	}

	// The protobuf form must be a document gnostic reads back.
	pb := get("/openapi/v2", "Accept", mimeV2PBOld)
	var buf bytes.Buffer
	buf.ReadFrom(pb.Body)
	var doc openapi_v2.Document
	if err := protobuf.Unmarshal(buf.Bytes(), &doc); err != nil || doc.Definitions == nil {
		t.Errorf("protobuf v2 document: %v", err)
	}

	// ETags let clients revalidate without a download.
	first := get(apps)
	etag := first.Header.Get("Etag")
	if etag == "" || first.Header.Get("Cache-Control") != "public, immutable" {
		t.Fatalf("headers %v", first.Header)
	}
	if again := get(apps, "If-None-Match", etag); again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d", again.StatusCode)
	}
}

func TestNewRejectsBadResources(t *testing.T) {
	good := testResources()[0]
	tests := []struct {
		name string
		mod  func(r *Resource)
	}{
		{"no kind", func(r *Resource) { r.Kind = "" }},
		{"no object", func(r *Resource) { r.Object = nil }},
		{"no version", func(r *Resource) { r.GVR.Version = "" }},
	}
	for _, tt := range tests {
		r := good
		tt.mod(&r)
		if _, err := New([]Resource{r}); err == nil {
			t.Errorf("%s: New accepted it", tt.name)
		}
	}
	if _, err := New([]Resource{good, good}); err == nil {
		t.Error("New accepted a duplicate")
	}
}

// BenchmarkFirstRequest is the cost the first OpenAPI client pays: building every document.
func BenchmarkFirstRequest(b *testing.B) {
	resources := testResources()
	loadListTypes() // client-go parses its schema once per process; leave that out
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		svc, err := New(resources)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.V3JSON("apis/apps/v1"); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.V2JSON(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkV2Protobuf(b *testing.B) {
	svc, err := New(testResources())
	if err != nil {
		b.Fatal(err)
	}
	data, err := svc.V2JSON()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := v2Proto(data); err != nil {
			b.Fatal(err)
		}
	}
}
