package allocator

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/skiff-dev/skiff/internal/etcd"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startEtcd runs an embedded etcd for one test (the real store: no etcd fakes).
func startEtcd(t *testing.T) *etcd.Handle {
	t.Helper()
	dir, err := os.MkdirTemp("", "sk-alloc")
	if err != nil {
		t.Fatal(err)
	}
	h, err := etcd.Start(context.Background(), etcd.Config{DataDir: dir, Logger: zap.NewNop()})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); os.RemoveAll(dir) })
	return h
}

func TestRangeAllocateAndRelease(t *testing.T) {
	h := startEtcd(t)
	ctx := context.Background()
	r := newRange(h.Client(), "/registry/ranges/test", "r1", 10, 1, 1, quiet)

	if _, err := r.Allocate(ctx, []int{3, 4}, 0); err != nil {
		t.Fatal(err)
	}
	_, err := r.Allocate(ctx, []int{5, 4}, 0)
	if !errors.Is(err, ErrAllocated) || failedIndex(err) != 1 {
		t.Fatalf("second claim of 4: %v (index %d)", err, failedIndex(err))
	}
	// All or nothing: 5 was not kept.
	if _, err := r.Allocate(ctx, []int{5}, 0); err != nil {
		t.Fatalf("5 was reserved by a failed call: %v", err)
	}
	if _, err := r.Allocate(ctx, []int{10}, 0); !errors.Is(err, ErrNotInRange) || failedIndex(err) != 0 {
		t.Fatalf("offset past the end: %v", err)
	}
	if _, err := r.Allocate(ctx, []int{-1}, 0); !errors.Is(err, ErrNotInRange) {
		t.Fatalf("offset -1: %v", err)
	}
	// Dry run sees the state and reserves nothing.
	drawn, err := r.Check(ctx, nil, 6)
	if err != nil || len(drawn) != 6 {
		t.Fatalf("Check = %v, %v", drawn, err)
	}
	if _, err := r.Check(ctx, nil, 7); !errors.Is(err, ErrFull) {
		t.Fatalf("Check past capacity: %v", err)
	}
	drawn, err = r.Allocate(ctx, nil, 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range drawn {
		if off == 0 {
			t.Fatal("drew offset 0, below min")
		}
	}
	if _, err := r.Allocate(ctx, nil, 1); !errors.Is(err, ErrFull) {
		t.Fatalf("allocating from a full range: %v", err)
	}
	// Offset 0 stays requestable.
	if _, err := r.Allocate(ctx, []int{0}, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(ctx, []int{4, 4, 99}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Allocate(ctx, nil, 1)
	if err != nil || got[0] != 4 {
		t.Fatalf("after releasing 4: %v, %v", got, err)
	}

	// A second instance (another API server) reads the same state from etcd.
	other := newRange(h.Client(), "/registry/ranges/test", "r1", 10, 1, 1, quiet)
	snap, err := other.Snapshot(ctx)
	if err != nil || snap.Count() != 10 {
		t.Fatalf("other server sees %d allocated (%v), want 10", snap.Count(), err)
	}
	// A value written for another range is not trusted.
	moved := newRange(h.Client(), "/registry/ranges/test", "r2", 10, 1, 1, quiet)
	snap, err = moved.Snapshot(ctx)
	if err != nil || snap.Count() != 0 {
		t.Fatalf("a changed range reads %d allocated (%v), want 0", snap.Count(), err)
	}
}

// Several servers (one Range each, one shared key) and many goroutines each drain the range:
// compare-and-swap must make every offset go to exactly one caller.
func TestRangeConcurrentServersNeverShare(t *testing.T) {
	h := startEtcd(t)
	ctx := context.Background()
	const size = 120
	var servers []*Range
	for range 3 {
		c, err := clientv3.New(clientv3.Config{Endpoints: h.Endpoints()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		servers = append(servers, newRange(c, "/registry/ranges/race", "r", size, 0, 10, quiet))
	}
	var mu sync.Mutex
	owner := map[int]int{}
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := servers[g%len(servers)]
			for {
				got, err := r.Allocate(ctx, nil, 1)
				if errors.Is(err, ErrFull) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := owner[got[0]]; dup {
					t.Errorf("offset %d handed to goroutines %d and %d", got[0], prev, g)
				}
				owner[got[0]] = g
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(owner) != size {
		t.Fatalf("%d offsets handed out, want %d", len(owner), size)
	}
}
