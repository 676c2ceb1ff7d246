package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-dev/skiff/internal/etcd"
)

func newStore(t *testing.T, opts Options) (*Store, *Resource, *etcd.Handle) {
	t.Helper()
	dir, err := os.MkdirTemp("", "skst-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h, err := etcd.Start(context.Background(), etcd.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s := New(h.InProcessClient(), opts)
	r := s.Register(schema.GroupResource{Resource: "configmaps"}, corev1.SchemeGroupVersion.WithKind("ConfigMap"),
		func() runtime.Object { return &corev1.ConfigMap{} })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, r, h
}

func cm(ns, name, v string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"v": v}}
}

func TestCreateGetUpdateDelete(t *testing.T) {
	_, r, _ := newStore(t, Options{})
	ctx := context.Background()
	key := r.Key("ns", "a")
	out, err := r.Create(ctx, key, cm("ns", "a", "1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	rv1 := out.(*corev1.ConfigMap).ResourceVersion
	if rv1 == "" {
		t.Fatal("no resourceVersion on create")
	}
	if _, err := r.Create(ctx, key, cm("ns", "a", "1"), 0); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}
	got, err := r.Get(ctx, key, ReadOptions{})
	if err != nil || got.(*corev1.ConfigMap).Data["v"] != "1" || got.(*corev1.ConfigMap).ResourceVersion != rv1 {
		t.Fatalf("get: %v %v", got, err)
	}
	// An update that changes nothing writes nothing.
	same, err := r.GuaranteedUpdate(ctx, key, func(cur runtime.Object) (runtime.Object, int64, error) { return cur, 0, nil })
	if err != nil || same.(*corev1.ConfigMap).ResourceVersion != rv1 {
		t.Fatalf("no-op update changed the resourceVersion: %v %v", same, err)
	}
	upd, err := r.GuaranteedUpdate(ctx, key, func(cur runtime.Object) (runtime.Object, int64, error) {
		c := cur.(*corev1.ConfigMap)
		c.Data["v"] = "2"
		return c, 0, nil
	})
	if err != nil || upd.(*corev1.ConfigMap).ResourceVersion == rv1 {
		t.Fatalf("update: %v %v", upd, err)
	}
	if _, err := r.Delete(ctx, key, func(runtime.Object) error { return &PreconditionError{Msg: "no"} }); err == nil {
		t.Fatal("delete ignored a failing check")
	}
	if _, err := r.Delete(ctx, key, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, key, ReadOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestConsistentListReadsOwnWrites(t *testing.T) {
	s, r, h := newStore(t, Options{})
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if _, err := r.Create(ctx, r.Key("ns", fmt.Sprint(i)), cm("ns", fmt.Sprint(i), "x"), 0); err != nil {
			t.Fatal(err)
		}
		res, err := r.List(ctx, ListOptions{Namespace: "ns"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != i+1 {
			t.Fatalf("after %d creates a consistent list saw %d", i+1, len(res.Items))
		}
	}
	// A write outside /registry/ moves etcd's revision without an event for the cache; a
	// consistent list must still answer promptly (through a progress notification).
	if _, err := h.Client().Put(ctx, "compact_rev_key", "1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := r.List(ctx, ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("consistent list after an outside write took %v", d)
	}
	_ = s
}

func TestListPagination(t *testing.T) {
	_, r, _ := newStore(t, Options{})
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		name := fmt.Sprintf("c%02d", i)
		if _, err := r.Create(ctx, r.Key("ns", name), cm("ns", name, "x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	opts := ListOptions{Namespace: "ns", Limit: 10}
	for page := 0; ; page++ {
		res, err := r.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			seen = append(seen, it.Object.(*corev1.ConfigMap).Name)
		}
		if res.Continue == "" {
			break
		}
		if res.Remaining == nil || *res.Remaining != int64(25-len(seen)) {
			t.Fatalf("page %d: remaining %v after %d", page, res.Remaining, len(seen))
		}
		opts.Continue = res.Continue
	}
	if len(seen) != 25 || seen[0] != "c00" || seen[24] != "c24" {
		t.Fatalf("pages saw %v", seen)
	}
	if _, err := r.List(ctx, ListOptions{Continue: "garbage"}); !errors.Is(err, ErrInvalidContinue) {
		t.Fatalf("bad continue: %v", err)
	}
}

func TestWatchResumeAndWindow(t *testing.T) {
	_, r, _ := newStore(t, Options{HistoryWindow: 5})
	ctx := context.Background()
	var rvs []int64
	for i := 0; i < 8; i++ {
		out, err := r.Create(ctx, r.Key("ns", fmt.Sprint(i)), cm("ns", fmt.Sprint(i), "x"), 0)
		if err != nil {
			t.Fatal(err)
		}
		var rv int64
		fmt.Sscan(out.(*corev1.ConfigMap).ResourceVersion, &rv)
		rvs = append(rvs, rv)
	}
	// Wait until the cache has them all.
	if _, err := r.List(ctx, ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Watch(ctx, WatchOptions{RV: rvs[0]}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("watch from outside the window: %v", err)
	}
	w, err := r.Watch(ctx, WatchOptions{RV: rvs[5]})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, want := range rvs[6:] {
		ev, ok := w.Next(ctx)
		if !ok || ev.Type != watch.Added || ev.RV != want {
			t.Fatalf("resumed watch: %+v %v, want rv %d", ev, ok, want)
		}
	}
	// A modification that makes the object leave the filter is a DELETED for the filtered watcher.
	fw, err := r.Watch(ctx, WatchOptions{RV: rvs[7], Filter: func(o runtime.Object) bool { return o.(*corev1.ConfigMap).Data["v"] == "x" }})
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Stop()
	if _, err := r.GuaranteedUpdate(ctx, r.Key("ns", "7"), func(cur runtime.Object) (runtime.Object, int64, error) {
		cur.(*corev1.ConfigMap).Data["v"] = "y"
		return cur, 0, nil
	}); err != nil {
		t.Fatal(err)
	}
	ev, ok := fw.Next(ctx)
	if !ok || ev.Type != watch.Deleted {
		t.Fatalf("filtered watch saw %+v", ev)
	}
}

// TestMemoSharedWhileInUse: readers of an item share one encoding; once nobody holds it, a
// collection frees it and the next reader encodes again.
func TestMemoSharedWhileInUse(t *testing.T) {
	it := &Item{Key: "ns/a", Object: cm("ns", "a", "1")}
	computed := 0
	enc := func(obj runtime.Object) ([]byte, error) {
		computed++
		return []byte(fmt.Sprintf("enc-%d", computed)), nil
	}
	cases := []struct {
		name         string
		collectFirst bool
		wantComputed int
		want         string
	}{
		{"first reader encodes", false, 1, "enc-1"},
		{"second reader shares it", false, 1, "enc-1"},
		{"after a collection it is encoded again", true, 2, "enc-2"},
		{"and shared again", false, 2, "enc-2"},
	}
	for _, tc := range cases {
		if tc.collectFirst {
			goruntime.GC()
		}
		b, err := it.Memo("json", enc)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want || computed != tc.wantComputed {
			t.Fatalf("%s: got %q after %d encodes, want %q after %d", tc.name, b, computed, tc.want, tc.wantComputed)
		}
	}
}
