package integration

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

var fuzzSetup struct {
	once   sync.Once
	client *http.Client
	base   string
	err    error
}

func fuzzTarget(t testing.TB) (*http.Client, string) {
	s := sharedServer(t)
	fuzzSetup.once.Do(func() {
		const ns = "fuzz-decode"
		_, err := s.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil {
			fuzzSetup.err = err
			return
		}
		fuzzSetup.client, fuzzSetup.err = rest.HTTPClientFor(s.Config)
		fuzzSetup.base = s.Config.Host + "/api/v1/namespaces/" + ns + "/"
	})
	if fuzzSetup.err != nil {
		t.Fatal(fuzzSetup.err)
	}
	return fuzzSetup.client, fuzzSetup.base
}

func protoBytes(obj runtime.Object) []byte {
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(obj, &buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

var fuzzContentTypes = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
	"application/merge-patch+json", "application/strategic-merge-patch+json", "application/json-patch+json", "application/apply-patch+yaml"}

// FuzzDecodeRequestBody sends arbitrary bytes as the body of creates, updates and patches of
// configmaps and pods. Whatever the bytes, the API server must answer 2xx or 4xx: a 5xx or a
// dropped connection means a decoding path failed to turn bad input into a client error.
func FuzzDecodeRequestBody(f *testing.F) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "seed"}, Data: map[string]string{"a": "b"}}
	cm.APIVersion, cm.Kind = "v1", "ConfigMap"
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "seed"}, Spec: podSpec}
	pod.APIVersion, pod.Kind = "v1", "Pod"
	seeds := []struct {
		ct, res byte
		body    []byte
	}{
		{0, 0, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`)},
		{0, 1, []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`)},
		{0, 0, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","labels":{"":""}},"data":[]}`)},
		{0, 1, []byte(`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"resources":{"limits":{"cpu":"1e1000000"}}}]}}`)},
		{0, 0, []byte(`{"kind":"ConfigMap"`)},
		{0, 0, []byte(`null`)},
		{0, 0, []byte(`[]`)},
		{0, 0, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","creationTimestamp":"yesterday"}}`)},
		{1, 0, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n")},
		{1, 1, []byte("apiVersion: v1\nkind: Pod\nmetadata: &a\n  name: *a\n")},
		{1, 0, []byte("- a\n- b: [\n")},
		{2, 0, protoBytes(cm)},
		{2, 1, protoBytes(pod)},
		{2, 1, append([]byte("k8s\x00"), 0xff, 0xff, 0xff, 0x0f)},
		{2, 0, []byte("k8s\x00\n\x02v1\x12\tConfigMap\x1a\xff\xff\xff\xff\x0f")},
		{3, 0, []byte(`{"data":{"k":null},"metadata":{"labels":{"x":"y"}}}`)},
		{4, 1, []byte(`{"spec":{"containers":[{"name":"c","$patch":"delete"},{"$patch":"replace"}]}}`)},
		{4, 1, []byte(`{"$setElementOrder/spec":[1],"spec":{"$retainKeys":"x"}}`)},
		{5, 0, []byte(`[{"op":"move","from":"/data","path":"/data/x"}]`)},
		{5, 0, []byte(`[{"op":"copy","from":"/metadata/name","path":"/metadata"}]`)},
		{6, 0, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seed\ndata: 7\n")},
		{6, 1, []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: seed\nspec:\n  containers:\n  - name: c\n  - name: c\n")},
	}
	for _, s := range seeds {
		f.Add(s.ct, s.res, s.body)
	}
	f.Fuzz(func(t *testing.T, ct, res byte, body []byte) {
		client, base := fuzzTarget(t)
		resource := "configmaps"
		if res%2 == 1 {
			resource = "pods"
		}
		contentType := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]
		method, url := http.MethodPost, base+resource
		switch {
		case int(ct)%len(fuzzContentTypes) >= 3:
			method, url = http.MethodPatch, base+resource+"/seed?fieldManager=fuzz"
		case res%4 >= 2:
			method, url = http.MethodPut, base+resource+"/seed"
		}
		// Make sure the patched object exists (its creation may itself have been fuzzed away).
		ensureSeed(t, client, base, resource, cm, pod)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s (%s): %v", method, url, contentType, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s (%s) %q: %d %s", method, url, contentType, body, resp.StatusCode, out)
		}
		if resp.StatusCode < 200 || (resp.StatusCode >= 300 && resp.StatusCode < 400) {
			t.Fatalf("%s %s: unexpected status %d", method, url, resp.StatusCode)
		}
		if resp.StatusCode < 300 && method == http.MethodPost {
			// Keep the namespace small: drop what a create stored (names vary, so delete by listing).
			dreq, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base+resource+"?labelSelector=!fuzz-keep", nil)
			if dresp, err := client.Do(dreq); err == nil {
				dresp.Body.Close()
			}
		}
	})
}

func ensureSeed(t *testing.T, client *http.Client, base, resource string, cm, pod runtime.Object) {
	t.Helper()
	obj := cm
	if resource == "pods" {
		obj = pod
	}
	body, _ := runtime.Encode(scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion), obj)
	req, _ := http.NewRequest(http.MethodPost, base+resource, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 && resp.StatusCode != 409 {
		t.Fatalf("creating the seed %s: %d", resource, resp.StatusCode)
	}
}
