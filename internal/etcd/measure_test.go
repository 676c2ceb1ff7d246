package etcd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// TestMeasureEmbedded records start-up time and memory of the embedded server. It is opt-in because
// its figures only mean something in a process of its own on a quiet machine:
//
//	SKIFF_ETCD_MEASURE=ours     go test -run TestMeasureEmbedded -v ./internal/etcd/
//	SKIFF_ETCD_MEASURE=defaults go test -run TestMeasureEmbedded -v ./internal/etcd/
//
// "defaults" reverts the memory and timing choices of embedConfig to etcd's own, for comparison.
//
// Figures on the machine this was written on (2 vCPU Intel Xeon VM shared with other jobs, ext4 on
// virtio disk, Go 1.26.8, etcd 3.7.3):
//
//	                                     ours             etcd defaults
//	start, fresh dir (median of 5)       0.41 s           0.71 s     (spread 0.1-0.5 s vs 0.3-1.0 s)
//	start, restart with data (median)    0.41 s           0.51 s
//	idle after start                     5.0 MiB heap     5.3 MiB heap,  RssAnon 8.0 vs 8.5 MB
//	idle after 8000 x 2 KiB writes       9.9 MiB heap     23.4 MiB heap, RssAnon 14.2 vs 28.4 MB
//
// The start-up spread is the randomized election timeout (see embedConfig), in 100 ms ticks.
func TestMeasureEmbedded(t *testing.T) {
	mode := os.Getenv("SKIFF_ETCD_MEASURE")
	if mode == "" {
		t.Skip("set SKIFF_ETCD_MEASURE=ours|defaults")
	}
	if mode == "defaults" {
		tweakEmbedConfig = func(ec *embed.Config) {
			d := embed.NewConfig()
			ec.SnapshotCount, ec.SnapshotCatchUpEntries = d.SnapshotCount, d.SnapshotCatchUpEntries
			ec.EnableGRPCGateway = d.EnableGRPCGateway
			ec.TickMs, ec.ElectionMs = d.TickMs, d.ElectionMs
		}
		defer func() { tweakEmbedConfig = nil }()
	}
	ctx := context.Background()

	// Start-up: fresh data dirs, then restarts of one dir holding data.
	var fresh, restart []time.Duration
	dir := shortDir(t)
	for i := range 5 {
		d := dir
		if i < 4 {
			d = shortDir(t)
		}
		began := time.Now()
		h, err := Start(ctx, Config{DataDir: d, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		fresh = append(fresh, time.Since(began))
		h.Close()
	}
	for range 5 {
		began := time.Now()
		h, err := Start(ctx, Config{DataDir: dir, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		restart = append(restart, time.Since(began))
		h.Close()
	}
	t.Logf("start, fresh dir: median %v of %v", median(fresh), fresh)
	t.Logf("start, restart:   median %v of %v", median(restart), restart)

	// Memory: idle after start, then after a burst of Kubernetes-sized writes, once the burst is over.
	h, err := Start(ctx, Config{DataDir: shortDir(t), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	time.Sleep(2 * time.Second)
	t.Logf("idle after start: %s", memory())

	const writes, size = 8000, 2048
	val := strings.Repeat("x", size)
	for i := range writes {
		if _, err := h.Client().Put(ctx, fmt.Sprintf("/registry/pods/default/p%d", i%500), val); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	t.Logf("idle after %d writes of %d B (%s): %s", writes, size, mode, memory())
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// memory reports what the Go heap holds after a full GC and what the process holds in anonymous
// memory, which is what the ≤ 60 MB idle target counts.
func memory() string {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("heap in use %.1f MiB, RssAnon %s", float64(ms.HeapInuse)/(1<<20), rssAnon())
}

func rssAnon() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}
