package kubelet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/runtime/image"
)

// attempts lists the pod's container instances, newest first.
func attempts(t *testing.T, h *harness, w *podWorker) []uint32 {
	t.Helper()
	pr, err := h.k.podRuntime(context.Background(), w.uid)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, c := range pr.containers["app0"] {
		out = append(out, c.Attempt)
	}
	return out
}

func TestContainerGC(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.GC.MaxPerPodContainer = -1 })
	w := h.create(t, testPod("crash", v1.RestartPolicyAlways, nil, "exit 1"))
	h.k.workers[w.uid] = w
	for i := 1; i <= 4; i++ {
		h.until(t, w, "a restart", func(st v1.PodStatus) bool {
			cs := st.ContainerStatuses[0]
			return cs.RestartCount == int32(i) && cs.State.Running == nil
		})
		// Past this back-off (10 s doubling; the runtime's finish times are the real clock's).
		h.clock.Step(time.Duration(10<<(i-1))*time.Second + time.Second)
	}
	if got := attempts(t, h, w); !slices.Equal(got, []uint32{4, 3, 2, 1, 0}) {
		t.Fatalf("instances before GC: %v", got)
	}
	logDir := filepath.Dir(h.k.containerLogPath(h.k.workers[w.uid].pod, "app0", 0))
	os.WriteFile(filepath.Join(logDir, "1.log.1.gz"), []byte("rotated"), 0o640)
	old := h.clock.Now().Add(-time.Hour)
	entries, _ := os.ReadDir(logDir)
	for _, e := range entries {
		os.Chtimes(filepath.Join(logDir, e.Name()), old, old)
	}
	ctx := context.Background()

	// The node-wide cap goes first for the oldest dead instances; the latest never goes.
	h.k.cfg.GC.MaxContainers = 2
	if err := h.k.collectContainers(ctx); err != nil {
		t.Fatal(err)
	}
	if got := attempts(t, h, w); !slices.Equal(got, []uint32{4, 3, 2}) {
		t.Errorf("after the node cap of 2: %v", got)
	}
	// One dead instance per container: the previous one, for logs --previous.
	h.k.cfg.GC.MaxPerPodContainer, h.k.cfg.GC.MaxContainers = 1, 100
	if err := h.k.collectContainers(ctx); err != nil {
		t.Fatal(err)
	}
	if got := attempts(t, h, w); !slices.Equal(got, []uint32{4, 3}) {
		t.Errorf("after GC with one dead instance per container: %v", got)
	}
	var logs []string
	entries, _ = os.ReadDir(logDir)
	for _, e := range entries {
		logs = append(logs, e.Name())
	}
	if !slices.Equal(logs, []string{"3.log", "4.log"}) {
		t.Errorf("logs left: %v, want those of attempts 3 and 4", logs)
	}
	// The restart path keeps to the same bound.
	h.clock.Step(6 * time.Minute)
	h.until(t, w, "another restart", func(st v1.PodStatus) bool { return st.ContainerStatuses[0].RestartCount == 5 })
	if got := attempts(t, h, w); !slices.Equal(got, []uint32{5, 4}) {
		t.Errorf("after a restart: %v", got)
	}
}

// collectingImages is the fake image store with a GC that records what it was asked.
type collectingImages struct {
	*fakeImages
	mu    sync.Mutex
	inUse [][]string
	err   error
}

func (c *collectingImages) CollectImages(_ context.Context, p image.GCPolicy, inUse []string) (image.GCResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inUse = append(c.inUse, inUse)
	if p.HighThresholdPercent != 85 || p.LowThresholdPercent != 80 {
		return image.GCResult{}, errors.New("unexpected policy")
	}
	return image.GCResult{}, c.err
}

func (c *collectingImages) calls() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.inUse)
}

func TestImageGCLoop(t *testing.T) {
	imgs := &collectingImages{fakeImages: &fakeImages{}, err: &FreeDiskSpaceError{Want: 100, Freed: 10}}
	h := newHarness(t, func(c *Config) { c.Images = imgs })
	w := h.create(t, testPod("web", v1.RestartPolicyNever, nil, "sleep 60"))
	h.until(t, w, "Running", func(st v1.PodStatus) bool { return st.Phase == v1.PodRunning })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.k.gcLoop(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the GC tickers", func() bool { return h.clock.HasWaiters() })
	h.clock.Step(4 * time.Minute)
	time.Sleep(50 * time.Millisecond)
	if len(imgs.calls()) != 0 {
		t.Fatal("images collected before five minutes passed")
	}
	h.clock.Step(time.Minute)
	waitFor(t, "an image collection", func() bool { return len(imgs.calls()) == 1 })
	if !slices.Contains(imgs.calls()[0], "busybox:1") {
		t.Errorf("in use: %v, want the running container's image", imgs.calls()[0])
	}
	waitFor(t, "the GC events", func() bool {
		return hasEvent(h.events, "Warning FreeDiskSpaceFailed Failed to garbage collect required amount of images. Attempted to free 100 bytes, but only found 10 bytes eligible to free.") &&
			hasEvent(h.events, "Warning ImageGCFailed Failed to garbage collect")
	})
}

func TestStoreImagesCollect(t *testing.T) {
	for _, tc := range []struct {
		used    uint64
		wantErr string
	}{
		{used: 50},
		{used: 90, wantErr: "Attempted to free 10 bytes, but only found 0 bytes eligible to free"},
	} {
		store, err := image.Open(image.Config{Root: t.TempDir(),
			DiskUsage: func(string) (uint64, uint64, error) { return tc.used, 100, nil }})
		if err != nil {
			t.Fatal(err)
		}
		_, err = StoreImages{Store: store}.CollectImages(context.Background(),
			image.GCPolicy{HighThresholdPercent: 85, LowThresholdPercent: 80}, nil)
		var fe *FreeDiskSpaceError
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("used %d: %v", tc.used, err)
		case tc.wantErr != "" && (!errors.As(err, &fe) || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("used %d: err %v, want %q", tc.used, err, tc.wantErr)
		}
	}
}

func TestGCPolicyDefaults(t *testing.T) {
	var p GCPolicy
	if err := p.defaults(); err != nil {
		t.Fatal(err)
	}
	want := GCPolicy{MaxPerPodContainer: 1, MaxContainers: 100, ContainerInterval: time.Minute, ImageInterval: 5 * time.Minute,
		ImageHighThresholdPercent: 85, ImageLowThresholdPercent: 80, ImageMinAge: 2 * time.Minute}
	if p != want {
		t.Errorf("defaults %+v", p)
	}
	bad := GCPolicy{ImageHighThresholdPercent: 70, ImageLowThresholdPercent: 80}
	if err := bad.defaults(); err == nil {
		t.Error("low above high was accepted")
	}
}
