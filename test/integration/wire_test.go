package integration

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestProtobufClient(t *testing.T) {
	e := newEnv(t)
	cfg := rest.CopyConfig(e.cfg)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	var mu sync.Mutex
	var types []string
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil {
				mu.Lock()
				types = append(types, resp.Header.Get("Content-Type"))
				mu.Unlock()
			}
			return resp, err
		})
	})
	cs, err := kubernetes.NewForConfig(cfg)
	must(t, err)
	pods := cs.CoreV1().Pods(e.ns)
	w, err := pods.Watch(e.ctx, metav1.ListOptions{})
	must(t, err)
	defer w.Stop()
	created, err := pods.Create(e.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pb", Labels: map[string]string{"pb": "1"}}, Spec: podSpec}, metav1.CreateOptions{})
	must(t, err)
	if created.UID == "" || created.Spec.Containers[0].Image != "busybox" {
		t.Fatalf("protobuf create answered %+v", created)
	}
	got, err := pods.Get(e.ctx, "pb", metav1.GetOptions{})
	must(t, err)
	if got.UID != created.UID || got.Labels["pb"] != "1" {
		t.Fatalf("protobuf get %+v", got.ObjectMeta)
	}
	l, err := pods.List(e.ctx, metav1.ListOptions{})
	must(t, err)
	if len(l.Items) != 1 || l.ResourceVersion == "" {
		t.Fatalf("protobuf list: %d items rv %q", len(l.Items), l.ResourceVersion)
	}
	ev := next(t, w)
	if ev.Type != watch.Added || ev.Object.(*corev1.Pod).UID != created.UID {
		t.Fatalf("protobuf watch: %s", evString(ev))
	}
	_, err = pods.Get(e.ctx, "missing", metav1.GetOptions{})
	wantStatus(t, err, 404, metav1.StatusReasonNotFound)
	mu.Lock()
	defer mu.Unlock()
	for _, ct := range types {
		if !strings.HasPrefix(ct, "application/vnd.kubernetes.protobuf") {
			t.Fatalf("a response came back as %q: %v", ct, types)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// warnings records the Warning headers a client receives.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	w.msgs = append(w.msgs, text)
	w.mu.Unlock()
}

func TestRequestBodyErrors(t *testing.T) {
	e := newEnv(t)
	rc := e.cs.CoreV1().RESTClient()
	post := func(ct string, body []byte, params ...string) error {
		r := rc.Post().Namespace(e.ns).Resource("configmaps").SetHeader("Content-Type", ct).Body(body)
		for i := 0; i+1 < len(params); i += 2 {
			r = r.Param(params[i], params[i+1])
		}
		return r.Do(e.ctx).Error()
	}
	valid := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ok"}}`)

	st := wantStatus(t, post("text/plain", valid), 415, metav1.StatusReasonUnsupportedMediaType)
	if !strings.Contains(st.Message, "application/json") {
		t.Errorf("415 message %q", st.Message)
	}
	big := bytes.Repeat([]byte("a"), 3<<20+1)
	huge := append([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":"`), big...)
	huge = append(huge, []byte(`"}}`)...)
	wantStatus(t, post("application/json", huge), 413, metav1.StatusReasonRequestEntityTooLarge)
	wantStatus(t, post("application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap",`)), 400, metav1.StatusReasonBadRequest)
	wantStatus(t, post("application/json", []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`)), 400, metav1.StatusReasonBadRequest)
	wantStatus(t, post("application/json", nil), 400, metav1.StatusReasonBadRequest)

	unknown := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"bogus":1}`)
	st = wantStatus(t, post("application/json", unknown, "fieldValidation", "Strict"), 400, metav1.StatusReasonBadRequest)
	if !strings.Contains(st.Message, `unknown field "bogus"`) {
		t.Errorf("strict message %q", st.Message)
	}
	dup := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1","a":"2"}}`)
	st = wantStatus(t, post("application/json", dup, "fieldValidation", "Strict"), 400, metav1.StatusReasonBadRequest)
	if !strings.Contains(st.Message, `duplicate field`) {
		t.Errorf("strict duplicate message %q", st.Message)
	}
	wantStatus(t, post("application/json", valid, "fieldValidation", "Sometimes"), 400, metav1.StatusReasonBadRequest)

	// Warn (the default) stores the object and warns.
	cfg := rest.CopyConfig(e.cfg)
	w := &warnings{}
	cfg.WarningHandler = w
	wcs, err := kubernetes.NewForConfig(cfg)
	must(t, err)
	err = wcs.CoreV1().RESTClient().Post().Namespace(e.ns).Resource("configmaps").Param("fieldValidation", "Warn").
		SetHeader("Content-Type", "application/json").Body(unknown).Do(e.ctx).Error()
	must(t, err)
	w.mu.Lock()
	if len(w.msgs) != 1 || !strings.Contains(w.msgs[0], `unknown field "bogus"`) {
		t.Errorf("warnings %q", w.msgs)
	}
	w.mu.Unlock()
	// Ignore neither fails nor warns.
	unknown2 := bytes.Replace(unknown, []byte(`"strict"`), []byte(`"ignored"`), 1)
	err = wcs.CoreV1().RESTClient().Post().Namespace(e.ns).Resource("configmaps").Param("fieldValidation", "Ignore").
		SetHeader("Content-Type", "application/json").Body(unknown2).Do(e.ctx).Error()
	must(t, err)
	w.mu.Lock()
	if len(w.msgs) != 1 {
		t.Errorf("Ignore warned: %q", w.msgs)
	}
	w.mu.Unlock()
	// YAML bodies are accepted.
	must(t, post("application/yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yaml\ndata:\n  k: v\n")))
}

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t)
	cfg := rest.AnonymousClientConfig(e.cfg)
	cs, err := kubernetes.NewForConfig(cfg)
	must(t, err)
	_, err = cs.CoreV1().ConfigMaps(e.ns).List(e.ctx, metav1.ListOptions{})
	wantStatus(t, err, 401, metav1.StatusReasonUnauthorized)
	// Health probes answer without credentials.
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(e.ctx)
	must(t, err)
	if string(body) != "ok" {
		t.Fatalf("/readyz: %q", body)
	}
}

// TestMetadataClient reads configmaps as PartialObjectMetadata (what garbage collectors and
// kubectl's metadata-only informers use).
func TestMetadataClient(t *testing.T) {
	e := newEnv(t)
	gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
	mc := e.meta.Resource(gvr).Namespace(e.ns)
	w, err := mc.Watch(e.ctx, metav1.ListOptions{})
	must(t, err)
	defer w.Stop()
	c, err := e.cs.CoreV1().ConfigMaps(e.ns).Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "md",
		Labels: map[string]string{"m": "1"}}, Data: map[string]string{"secret-ish": "x"}}, metav1.CreateOptions{})
	must(t, err)
	got, err := mc.Get(e.ctx, "md", metav1.GetOptions{})
	must(t, err)
	if got.UID != c.UID || got.Labels["m"] != "1" {
		t.Fatalf("metadata get: %+v", got)
	}
	l, err := mc.List(e.ctx, metav1.ListOptions{LabelSelector: "m=1"})
	must(t, err)
	if len(l.Items) != 1 || l.Items[0].Name != "md" || l.ResourceVersion == "" {
		t.Fatalf("metadata list: %+v", l)
	}
	for {
		ev := next(t, w)
		if ev.Type == watch.Added {
			pom, ok := ev.Object.(*metav1.PartialObjectMetadata)
			if !ok || pom.Name != "md" {
				t.Fatalf("metadata watch event %T %v", ev.Object, ev.Object)
			}
			break
		}
	}
	must(t, mc.Delete(e.ctx, "md", metav1.DeleteOptions{}))
	_, err = mc.Get(e.ctx, "md", metav1.GetOptions{})
	wantStatus(t, err, 404, metav1.StatusReasonNotFound)
}
