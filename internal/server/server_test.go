package server_test

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/etcd"
	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
)

// A server pointed at an external etcd (--etcd-servers) keeps its state there: a second server on
// another data dir but the same etcd sees it.
func TestExternalEtcd(t *testing.T) {
	dir, err := os.MkdirTemp("", "skext-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	h, err := etcd.Start(context.Background(), etcd.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	external := func(c *server.Config) { c.EtcdServers = h.Endpoints() }
	a := testserver.Start(t, testserver.Options{Mutate: external})
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Data: map[string]string{"k": "v"}}
	if _, err := a.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b := testserver.Start(t, testserver.Options{Mutate: external})
	got, err := b.Client.CoreV1().ConfigMaps("default").Get(ctx, "shared", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("second server on the same etcd: %v %v", got, err)
	}
	if _, err := os.Stat(a.DataDir + "/etcd"); !os.IsNotExist(err) {
		t.Fatalf("a server on external etcd created an embedded store: %v", err)
	}
}

// Events expire after --event-ttl, through etcd leases.
func TestEventTTL(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Mutate: func(c *server.Config) { c.EventTTL = 2 * time.Second }})
	ctx := context.Background()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "short-lived"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"},
		Reason:         "Test", Message: "expires", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "test"},
	}
	if _, err := s.Client.CoreV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stays"}}
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := s.Client.CoreV1().Events("default").Get(ctx, "short-lived", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event still there after its TTL: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	list, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("expired event still listed: %v %v", list, err)
	}
	if _, err := s.Client.CoreV1().ConfigMaps("default").Get(ctx, "stays", metav1.GetOptions{}); err != nil {
		t.Fatalf("an object without TTL expired: %v", err)
	}
}
