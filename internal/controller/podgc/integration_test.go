package podgc_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/skiff-dev/skiff/internal/controller/podgc"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/fakenodes"
)

func TestPodsOfDeletedNodes(t *testing.T) {
	s := testserver.Start(t)
	cs := s.Client
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// "ghost" is served until its Node object goes, before the collector starts, so that its pod
	// is bound to a node that no longer exists.
	actx, stopAgents := context.WithCancel(ctx)
	t.Cleanup(stopAgents)
	if _, err := fakenodes.Start(actx, cs, fakenodes.Options{Nodes: []string{"doomed", "ghost", "stays"}, Namespaces: []string{"app"},
		Outcome: func(p *corev1.Pod) fakenodes.Outcome {
			return fakenodes.Outcome{Exited: strings.HasPrefix(p.Name, "old-")}
		}}); err != nil {
		t.Fatal(err)
	}
	mk := func(name, node string) {
		t.Helper()
		if _, err := cs.CoreV1().Pods("app").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("on-doomed", "doomed")
	mk("on-ghost", "ghost")
	mk("on-stays", "stays")
	for _, n := range []string{"old-1", "old-2", "old-3"} {
		mk(n, "stays")
		time.Sleep(1100 * time.Millisecond) // distinct creation seconds
	}
	want := map[string]corev1.PodPhase{"on-doomed": corev1.PodRunning, "on-ghost": corev1.PodRunning, "on-stays": corev1.PodRunning,
		"old-1": corev1.PodSucceeded, "old-2": corev1.PodSucceeded, "old-3": corev1.PodSucceeded}
	deadline := time.Now().Add(10 * time.Second)
	for name, phase := range want {
		for {
			p, err := cs.CoreV1().Pods("app").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Status.Phase == phase {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod %s is %q, want %s", name, p.Status.Phase, phase)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := cs.CoreV1().Nodes().Delete(ctx, "ghost", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f := informers.NewSharedInformerFactory(cs, 0)
	level := slog.LevelWarn
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	c, err := podgc.New(podgc.Config{Client: cs, Informers: f, Period: 200 * time.Millisecond, Quarantine: time.Second,
		TerminatedPodThreshold: 1, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	f.Start(cctx.Done())
	go func() { c.Run(cctx, 1); close(done) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })

	if err := cs.CoreV1().Nodes().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone := func(name string) bool {
		_, err := cs.CoreV1().Pods("app").Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for !(gone("on-doomed") && gone("on-ghost") && gone("old-1") && gone("old-2")) {
		if time.Now().After(deadline) {
			t.Fatalf("not collected: doomed %v ghost %v old-1 %v old-2 %v", gone("on-doomed"), gone("on-ghost"), gone("old-1"), gone("old-2"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, name := range []string{"on-stays", "old-3"} {
		if gone(name) {
			t.Errorf("pod %s collected", name)
		}
	}
}
