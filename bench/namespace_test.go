package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/skiff-dev/skiff/internal/controller/namespace"
)

// BenchmarkNamespaceDelete: the time from deleting a namespace holding 10,000 unbound (Pending)
// pods to the namespace being gone, with the namespace controller in this process against a
// `skiff server` process (issue 4's figure: ≤ 30 s, no force-deletes).
func BenchmarkNamespaceDelete(b *testing.B) {
	const n = 10000
	s := startServer(b)
	cs := s.client(b)
	ctx := context.Background()
	md, err := metadata.NewForConfig(s.restConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	f := informers.NewSharedInformerFactory(cs, 0)
	c, err := namespace.New(namespace.Config{Client: cs, Metadata: md, Informers: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.Start(cctx.Done())
	go c.Run(cctx, 10)

	newNamespace(b, cs, "full")
	clients := make([]kubernetes.Interface, writers)
	for i := range clients {
		clients[i] = s.client(b)
	}
	_, elapsed := runWriters(b, n, func(w int, i int64) error {
		_, err := clients[w].CoreV1().Pods("full").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
		return err
	})
	b.Logf("%d pods created in %s", n, elapsed)
	b.ResetTimer()
	start := time.Now()
	if err := cs.CoreV1().Namespaces().Delete(ctx, "full", metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	for {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "full", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatal("namespace not gone after 5 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	d := time.Since(start)
	b.StopTimer()
	b.ReportMetric(d.Seconds(), "delete-s")
	b.ReportMetric(float64(n)/d.Seconds(), "pods/s")
}
