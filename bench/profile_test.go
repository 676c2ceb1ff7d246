package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// profileDir is where benchmarks that support it write the server's profiles
// (SKIFF_BENCH_PROFILE=dir); empty means no profiling, so measured runs pay nothing for it.
func profileDir() string { return os.Getenv("SKIFF_BENCH_PROFILE") }

// startCPUProfile asks the server for a CPU profile of the next d (rounded up to seconds), written
// to <dir>/<name>.cpu.pprof; wait blocks until it is written. Without SKIFF_BENCH_PROFILE it does
// nothing.
func (s *server) startCPUProfile(b testing.TB, name string, d time.Duration) (wait func()) {
	dir := profileDir()
	if dir == "" {
		return func() {}
	}
	secs := int((d + time.Second - 1) / time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.fetchProfile(b, filepath.Join(dir, name+".cpu.pprof"), "profile", map[string]string{"seconds": strconv.Itoa(secs)})
	}()
	return func() { <-done }
}

// heapProfile writes the server's heap profile (after a GC) to <dir>/<name>.heap.pprof.
func (s *server) heapProfile(b testing.TB, name string) {
	if dir := profileDir(); dir != "" {
		s.fetchProfile(b, filepath.Join(dir, name+".heap.pprof"), "heap", map[string]string{"gc": "1"})
	}
}

func (s *server) fetchProfile(b testing.TB, path, kind string, params map[string]string) {
	cs := s.client(b)
	req := cs.Discovery().RESTClient().Get().AbsPath("/debug/pprof/" + kind).Timeout(10 * time.Minute)
	for k, v := range params {
		req = req.Param(k, v)
	}
	data, err := req.DoRaw(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "profile %s: %v\n", kind, err)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "profile %s: %v\n", kind, err)
		return
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "profile %s: %v\n", kind, err)
	}
}
