package serviceaccount_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/skiff-dev/skiff/internal/controller/serviceaccount"
	"github.com/skiff-dev/skiff/internal/testserver"
)

func TestDefaultAccount(t *testing.T) {
	s := testserver.Start(t)
	cs := s.Client
	ctx := context.Background()
	f := informers.NewSharedInformerFactory(cs, 0)
	c, err := serviceaccount.New(serviceaccount.Config{Client: cs, Informers: f, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	f.Start(cctx.Done())
	go func() { c.Run(cctx, 2); close(done) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })

	present := func(ns string) bool {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}
	waitFor := func(what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("timed out: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitFor("default in the built-in namespaces", func() bool { return present("default") && present("kube-system") })
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("default account in a new namespace after %s", waitFor("default in fresh", func() bool { return present("fresh") }))
	if err := cs.CoreV1().ServiceAccounts("fresh").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("default recreated", func() bool { return present("fresh") })
}
