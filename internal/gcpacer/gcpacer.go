package gcpacer

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Options tune Run; zero values take the defaults.
type Options struct {
	// Percent is the GOGC used while the heap is small (default 200: collecting at three times
	// the live heap halved the API server's GC work against the default 100).
	Percent int
	// Floor is the least soft memory limit (default 448 MiB): below it the heap grows freely.
	// With 10,000 pods and 1,000 nodes the live heap is ~180 MB, so the floor is what bounds
	// the server's memory there; 448 MiB keeps `skiff server` under 600 MB resident (the
	// binary's mapped pages are ~125 MB of that) while leaving the collector ~1.5 live heaps of
	// room.
	Floor int64
	// Interval is how often the live heap is read (default 2 s).
	Interval time.Duration
}

// Limit is the soft memory limit for a live heap of live bytes: at least floor and at least twice
// the live heap, so that the collector always has a live heap's worth of room to work in.
func Limit(live, floor int64) int64 {
	return max(floor, 2*live)
}

// Run applies GOGC and keeps the memory limit following the live heap until ctx ends. It does
// nothing when GOGC or GOMEMLIMIT is set in the environment.
func Run(ctx context.Context, o Options) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if o.Percent == 0 {
		o.Percent = 200
	}
	if o.Floor == 0 {
		o.Floor = 448 << 20
	}
	if o.Interval == 0 {
		o.Interval = 2 * time.Second
	}
	debug.SetGCPercent(o.Percent)
	debug.SetMemoryLimit(o.Floor)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	last := o.Floor
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			continue
		}
		if l := Limit(int64(sample[0].Value.Uint64()), o.Floor); l != last {
			debug.SetMemoryLimit(l)
			last = l
		}
	}
}
