package testserver

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/server"
)

func TestStartServesAndRestartKeepsData(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"}, Data: map[string]string{"a": "b"}}
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s = s.Restart(t)
	got, err := s.Client.CoreV1().ConfigMaps("default").Get(ctx, "keep", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["a"] != "b" {
		t.Fatalf("data after restart: %v", got.Data)
	}
}

func TestRestartKeepsOptions(t *testing.T) {
	calls := 0
	s := Start(t, Options{Mutate: func(cfg *server.Config) {
		calls++
		cfg.EventTTL = 7 * time.Minute
	}})
	s = s.Restart(t)
	if calls != 2 {
		t.Fatalf("Mutate ran %d times over a start and a restart, want 2", calls)
	}
	if s.opts.Mutate == nil {
		t.Fatal("the restarted server lost its options")
	}
}
