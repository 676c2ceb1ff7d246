package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/etcd"
)

const writers = 16

// payload is ~400 bytes of data, the size of the figures' values.
var payload = strings.Repeat("x", 400)

func newNamespace(b *testing.B, cs kubernetes.Interface, name string) {
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkConfigMapCreate: creates/s and latency from 16 concurrent client-go clients, each with
// its own connection. One op is one create.
func BenchmarkConfigMapCreate(b *testing.B) {
	s := startServer(b)
	ns := "bench-create"
	newNamespace(b, s.client(b), ns)
	clients := make([]kubernetes.Interface, writers)
	for i := range clients {
		clients[i] = s.client(b)
	}
	n := b.N
	if n < 2000 {
		n = 20000
	}
	b.ResetTimer()
	lat, elapsed := runWriters(b, n, func(w int, i int64) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}, Data: map[string]string{"v": payload}}
		_, err := clients[w].CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{})
		return err
	})
	b.StopTimer()
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "creates/s")
	b.ReportMetric(ms(lat.pct(0.50)), "p50-ms")
	b.ReportMetric(ms(lat.pct(0.99)), "p99-ms")
}

// runWriters runs n operations over 16 concurrent writers and returns each one's latency and the
// wall time of the whole run.
func runWriters(b *testing.B, n int, op func(writer int, i int64) error) (latencies, time.Duration) {
	var next atomic.Int64
	lat := make([]latencies, writers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				t0 := time.Now()
				if err := op(w, i); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all latencies
	for _, l := range lat {
		all = append(all, l...)
	}
	return all, elapsed
}

// BenchmarkEtcdTxn is the floor under BenchmarkConfigMapCreate: create-if-absent transactions of
// 400-byte values on embedded etcd, from 16 writers, in this process, through etcd's gRPC client on
// its unix socket (how upstream's figure was taken) and through the in-process client the API
// server uses for an embedded etcd.
func BenchmarkEtcdTxn(b *testing.B) {
	b.Run("grpc", func(b *testing.B) { benchEtcd(b, false) })
	b.Run("inprocess", func(b *testing.B) { benchEtcd(b, true) })
}

func benchEtcd(b *testing.B, inProcess bool) {
	dir := b.TempDir()
	h, err := etcd.Start(context.Background(), etcd.Config{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	cli := h.Client()
	if inProcess {
		cli = h.InProcessClient()
	}
	n := b.N
	if n < 2000 {
		n = 40000
	}
	b.ResetTimer()
	all, elapsed := runWriters(b, n, func(_ int, i int64) error {
		key := fmt.Sprintf("/bench/%d", i)
		_, err := cli.Txn(context.Background()).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, payload)).Commit()
		return err
	})
	b.StopTimer()
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "txn/s")
	b.ReportMetric(ms(all.pct(0.50)), "p50-ms")
	b.ReportMetric(ms(all.pct(0.99)), "p99-ms")
}

// BenchmarkCreateToWatch: time from the start of a create to its ADDED event at a watcher, with
// creates issued one after another.
func BenchmarkCreateToWatch(b *testing.B) {
	s := startServer(b)
	cs := s.client(b)
	ns := "bench-watch"
	newNamespace(b, cs, ns)
	w, err := s.client(b).CoreV1().ConfigMaps(ns).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	n := b.N
	if n < 100 {
		n = 2000
	}
	var lat latencies
	b.ResetTimer()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("w-%d", i)
		t0 := time.Now()
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": payload}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		for {
			ev := <-w.ResultChan()
			if ev.Type == watch.Added && ev.Object.(*corev1.ConfigMap).Name == name {
				break
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(ms(lat.pct(0.50)), "p50-ms")
	b.ReportMetric(ms(lat.pct(0.99)), "p99-ms")
}

// BenchmarkList2000: listing 2,000 ConfigMaps (client-go, consistent read), in JSON (client-go's
// default) and protobuf (what skiff's own components use). One op is one list.
func BenchmarkList2000(b *testing.B) {
	b.Run("json", func(b *testing.B) { benchList(b, false) })
	b.Run("protobuf", func(b *testing.B) { benchList(b, true) })
}

func benchList(b *testing.B, protobuf bool) {
	s := startServer(b)
	cs := s.client(b)
	lc := cs
	if protobuf {
		cfg := s.restConfig(b)
		cfg.ContentType = "application/vnd.kubernetes.protobuf"
		cfg.AcceptContentTypes = cfg.ContentType
		var err error
		if lc, err = kubernetes.NewForConfig(cfg); err != nil {
			b.Fatal(err)
		}
	}
	ns := "bench-list"
	newNamespace(b, cs, ns)
	runWriters(b, 2000, func(_ int, i int64) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}, Data: map[string]string{"v": payload}}
		_, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{})
		return err
	})
	n := b.N
	if n < 20 {
		n = 200
	}
	var lat latencies
	b.ResetTimer()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		l, err := lc.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(l.Items) != 2000 {
			b.Fatalf("listed %d", len(l.Items))
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(ms(lat.pct(0.50)), "p50-ms")
	b.ReportMetric(ms(lat.pct(0.99)), "p99-ms")
}

// BenchmarkIdleMemory: a fresh `skiff server` (API server + embedded etcd, no workloads), left
// idle for 20 s after it answers.
func BenchmarkIdleMemory(b *testing.B) {
	s := startServer(b)
	time.Sleep(20 * time.Second)
	anon, rss := memory(s.cmd.Process.Pid)
	b.ReportMetric(float64(anon)/(1<<20), "RssAnon-MB")
	b.ReportMetric(float64(rss)/(1<<20), "RSS-MB")
}
