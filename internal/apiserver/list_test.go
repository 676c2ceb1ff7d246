package apiserver_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/testserver"
)

// The JSON and protobuf list fast paths assemble lists from memoised item encodings; both must
// decode to exactly what the general path would produce.
func TestListEncodingsAgree(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i), Labels: map[string]string{"i": fmt.Sprint(i % 3)}},
			Data: map[string]string{"k": fmt.Sprint(i)}}
		if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pcfg := rest.CopyConfig(s.Config)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	pb, err := kubernetes.NewForConfig(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []metav1.ListOptions{{}, {LabelSelector: "i=1"}, {Limit: 7}, {ResourceVersion: "0"}} {
		js, err := s.Client.CoreV1().ConfigMaps("default").List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := pb.CoreV1().ConfigMaps("default").List(ctx, opts)
		if err != nil {
			t.Fatalf("protobuf list %+v: %v", opts, err)
		}
		if len(js.Items) == 0 || len(js.Items) != len(pl.Items) {
			t.Fatalf("%+v: json %d items, protobuf %d", opts, len(js.Items), len(pl.Items))
		}
		for i := range js.Items {
			js.Items[i].TypeMeta, pl.Items[i].TypeMeta = metav1.TypeMeta{}, metav1.TypeMeta{}
			if !apiequality.Semantic.DeepEqual(js.Items[i], pl.Items[i]) {
				t.Fatalf("%+v: item %d differs:\njson %+v\nprotobuf %+v", opts, i, js.Items[i], pl.Items[i])
			}
		}
		if (js.Continue == "") != (pl.Continue == "") || (opts.Limit > 0 && pl.RemainingItemCount == nil) {
			t.Fatalf("%+v: list metadata differs: %+v vs %+v", opts, js.ListMeta, pl.ListMeta)
		}
	}
}
