package apiclient

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// A typed client built from a Protobuf config sends protobuf bodies and asks for protobuf back.
func TestTypedClientsSpeakProtobuf(t *testing.T) {
	var gotType, gotAccept string
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotType, gotAccept = r.Header.Get("Content-Type"), r.Header.Get("Accept")
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", mediaProtobuf)
		w.WriteHeader(http.StatusCreated)
		s := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
		_ = s.Encode(&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "back"}}, w)
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(Protobuf(&rest.Config{Host: srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	out, err := cs.CoreV1().ConfigMaps("ns").Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if gotType != mediaProtobuf {
		t.Errorf("request Content-Type %q, want %q", gotType, mediaProtobuf)
	}
	if !strings.HasPrefix(gotAccept, mediaProtobuf) {
		t.Errorf("Accept %q does not ask for protobuf first", gotAccept)
	}
	if len(body) < 4 || string(body[:4]) != "k8s\x00" {
		t.Errorf("request body is not a protobuf envelope: %q", body)
	}
	if out.Name != "back" {
		t.Errorf("decoded response %q, want back", out.Name)
	}
}
