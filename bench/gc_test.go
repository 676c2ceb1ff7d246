package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"

	"github.com/skiff-dev/skiff/internal/controller/garbagecollector"
)

// gcWorkers is upstream's default --concurrent-gc-syncs.
const gcWorkers = 20

// BenchmarkGarbageCollect: the time from deleting (background) one owner to the last of its 1,000
// dependent ConfigMaps being gone, with the collector running in this process against a `skiff
// server` process; and in the same run the floor: 1,000 plain deletes from as many concurrent
// goroutines on one client, as the collector has.
func BenchmarkGarbageCollect(b *testing.B) {
	const n = 1000
	s := startServer(b)
	cs := s.client(b)
	ctx := context.Background()

	// Floor: raw deletes/s.
	newNamespace(b, cs, "floor")
	createMany(b, cs, "floor", n, nil)
	start := time.Now()
	deleteMany(b, cs, "floor", n)
	floor := time.Since(start)

	cfg := s.restConfig(b)
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	factory := metadatainformer.NewSharedInformerFactory(md, 0)
	gc, err := garbagecollector.New(garbagecollector.Config{Metadata: md, Discovery: cs.Discovery(), Informers: factory,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go gc.Run(gctx, gcWorkers)
	for !gc.Synced() {
		time.Sleep(20 * time.Millisecond)
	}

	newNamespace(b, cs, "collect")
	owner, err := cs.CoreV1().ConfigMaps("collect").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	createMany(b, cs, "collect", n, []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: owner.UID}})
	w, err := cs.CoreV1().ConfigMaps("collect").Watch(ctx, metav1.ListOptions{ResourceVersion: owner.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	time.Sleep(2 * time.Second) // let the collector's informers see every dependent
	b.ResetTimer()
	start = time.Now()
	bg := metav1.DeletePropagationBackground
	if err := cs.CoreV1().ConfigMaps("collect").Delete(ctx, "owner", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		b.Fatal(err)
	}
	gone := 0
	timeout := time.After(5 * time.Minute)
	for gone < n+1 {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatal("watch ended")
			}
			if ev.Type == watch.Deleted {
				gone++
			}
		case <-timeout:
			b.Fatalf("only %d of %d collected", gone-1, n)
		}
	}
	collect := time.Since(start)
	b.StopTimer()
	b.ReportMetric(collect.Seconds(), "collect-s")
	b.ReportMetric(float64(n)/collect.Seconds(), "collected/s")
	b.ReportMetric(float64(n)/floor.Seconds(), "floor-deletes/s")
	b.ReportMetric(floor.Seconds()/collect.Seconds()*100, "pct-of-floor")
}

func createMany(b *testing.B, cs kubernetes.Interface, ns string, n int, owners []metav1.OwnerReference) {
	b.Helper()
	runWriters(b, n, func(_ int, i int64) error {
		_, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("dep-%d", i), OwnerReferences: owners}}, metav1.CreateOptions{})
		return err
	})
}

// deleteMany deletes dep-1..dep-n from gcWorkers goroutines sharing one client.
func deleteMany(b *testing.B, cs kubernetes.Interface, ns string, n int) {
	b.Helper()
	next := make(chan int, n)
	for i := 1; i <= n; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for w := 0; w < gcWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := cs.CoreV1().ConfigMaps(ns).Delete(context.Background(), fmt.Sprintf("dep-%d", i), metav1.DeleteOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
