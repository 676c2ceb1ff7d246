package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var tsDirName = regexp.MustCompile(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`)

func TestWriteAtomicSequence(t *testing.T) {
	type step struct {
		payload     map[string]fileProjection
		wantChanged bool
		wantErr     string
		// wantVisible are the top-level names expected in the volume root.
		wantVisible []string
	}
	f := func(data string, mode int32) fileProjection { return fileProjection{Data: []byte(data), Mode: mode} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"create then unchanged", []step{
			{payload: map[string]fileProjection{"a": f("1", 0o644), "b": f("2", 0o600)}, wantChanged: true, wantVisible: []string{"a", "b"}},
			{payload: map[string]fileProjection{"a": f("1", 0o644), "b": f("2", 0o600)}, wantChanged: false, wantVisible: []string{"a", "b"}},
		}},
		{"mode change alone rewrites", []step{
			{payload: map[string]fileProjection{"a": f("1", 0o644)}, wantChanged: true, wantVisible: []string{"a"}},
			{payload: map[string]fileProjection{"a": f("1", 0o400)}, wantChanged: true, wantVisible: []string{"a"}},
		}},
		{"keys added and removed", []step{
			{payload: map[string]fileProjection{"a": f("1", 0o644), "b": f("2", 0o644)}, wantChanged: true, wantVisible: []string{"a", "b"}},
			{payload: map[string]fileProjection{"b": f("3", 0o644), "c": f("4", 0o644)}, wantChanged: true, wantVisible: []string{"b", "c"}},
			{payload: map[string]fileProjection{}, wantChanged: true, wantVisible: nil},
		}},
		{"nested paths", []step{
			{payload: map[string]fileProjection{"dir/x": f("x", 0o644), "dir/sub/y": f("y", 0o644), "z": f("z", 0o644)}, wantChanged: true, wantVisible: []string{"dir", "z"}},
			{payload: map[string]fileProjection{"dir/x": f("x2", 0o644)}, wantChanged: true, wantVisible: []string{"dir"}},
		}},
		{"absolute path refused", []step{{payload: map[string]fileProjection{"/etc/passwd": f("x", 0o644)}, wantErr: "must be relative"}}},
		{"backstep refused", []step{{payload: map[string]fileProjection{"a/../../b": f("x", 0o644)}, wantErr: "not clean"}}},
		{"reserved prefix refused", []step{{payload: map[string]fileProjection{"..data": f("x", 0o644)}, wantErr: "must not start with '..'"}}},
		{"file and dir conflict refused", []step{{payload: map[string]fileProjection{"a": f("x", 0o644), "a/b": f("y", 0o644)}, wantErr: "conflict"}}},
	}
	defer func(g time.Duration) { retiredGrace = g }(retiredGrace)
	retiredGrace = 0 // so that checkVolume sees every replaced generation gone
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, s := range tt.steps {
				changed, err := writeAtomic(dir, s.payload, nil)
				if s.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), s.wantErr) {
						t.Fatalf("step %d: err = %v, want %q", i, err, s.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if changed != s.wantChanged {
					t.Errorf("step %d: changed = %v, want %v", i, changed, s.wantChanged)
				}
				checkVolume(t, dir, s.payload, s.wantVisible)
			}
		})
	}
}

// checkVolume asserts the upstream layout: ..data -> one timestamped generation holding exactly
// payload, user-visible names are symlinks through ..data, nothing else is left over.
func checkVolume(t *testing.T, dir string, payload map[string]fileProjection, visible []string) {
	t.Helper()
	target, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil {
		t.Fatal(err)
	}
	generations := 0
	defer func() {
		if generations > 0 && retiredGrace == 0 {
			t.Errorf("%d retired generations left with no grace", generations)
		}
	}()
	if !tsDirName.MatchString(target) {
		t.Errorf("..data -> %q, want a timestamped directory", target)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		switch {
		case e.Name() == dataLink || e.Name() == target:
		case tsDirName.MatchString(e.Name()):
			generations++ // retired generations outlive their replacement for retiredGrace
		case strings.HasPrefix(e.Name(), ".."):
			t.Errorf("leftover %s", e.Name())
		default:
			got = append(got, e.Name())
			l, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil || l != dataLink+"/"+e.Name() {
				t.Errorf("%s -> %q (%v), want a symlink through ..data", e.Name(), l, err)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(visible) && !(len(got) == 0 && len(visible) == 0) {
		t.Errorf("visible entries %v, want %v", got, visible)
	}
	files := listFiles(t, dir)
	if len(files) != len(payload) {
		t.Errorf("files %v, want %d of them", files, len(payload))
	}
	for p, want := range payload {
		if files[p] != string(want.Data) {
			t.Errorf("%s = %q, want %q", p, files[p], want.Data)
		}
		info, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != os.FileMode(want.Mode) {
			t.Errorf("%s mode %v, want %v", p, info.Mode().Perm(), os.FileMode(want.Mode))
		}
	}
}

func TestWriteAtomicFSGroup(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	gid := int64(4321)
	if _, err := writeAtomic(dir, map[string]fileProjection{"k": {Data: []byte("v"), Mode: 0o600}}, &gid); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	if st.Gid != uint32(gid) || info.Mode().Perm() != 0o640 {
		t.Errorf("k: gid %d mode %v, want gid %d mode 0640", st.Gid, info.Mode().Perm(), gid)
	}
	// Unchanged payload with fsGroup must be recognised as unchanged.
	changed, err := writeAtomic(dir, map[string]fileProjection{"k": {Data: []byte("v"), Mode: 0o600}}, &gid)
	if err != nil || changed {
		t.Errorf("rewrite: changed=%v err=%v, want no change", changed, err)
	}
}

func TestWriteAtomicRecoversFromCrash(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeAtomic(dir, map[string]fileProjection{"a": {Data: []byte("1"), Mode: 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	// What a crash between writing a generation and swapping leaves behind, long ago.
	crashed := filepath.Join(dir, "..2020_01_01_00_00_00.123")
	if err := os.Mkdir(crashed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(crashed, time.Unix(1e9, 0), time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2020_01_01_00_00_00.123", filepath.Join(dir, dataLinkTmp)); err != nil {
		t.Fatal(err)
	}
	if _, err := writeAtomic(dir, map[string]fileProjection{"a": {Data: []byte("1"), Mode: 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	checkVolume(t, dir, map[string]fileProjection{"a": {Data: []byte("1"), Mode: 0o644}}, []string{"a"})
}

// TestAtomicUpdateNoTornReads swaps generations while readers look: a reader that resolves
// ..data once must see a consistent pair, and a reader of a user-visible path must always find
// the file whole.
func TestAtomicUpdateNoTornReads(t *testing.T) {
	dir := t.TempDir()
	write := func(i int) {
		t.Helper()
		v := fmt.Sprintf("gen-%06d", i)
		if _, err := writeAtomic(dir, map[string]fileProjection{
			"left": {Data: []byte(v), Mode: 0o644}, "right": {Data: []byte(v), Mode: 0o644},
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	var stop atomic.Bool
	var pairs, mixes, failures atomic.Int64
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := readPair(dir, &pairs, &mixes); err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
				for _, k := range []string{"left", "right"} {
					b, err := os.ReadFile(filepath.Join(dir, k))
					if err != nil || !regexp.MustCompile(`^gen-\d{6}$`).Match(b) {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, fmt.Sprintf("read %s: %q %v", k, b, err))
					}
				}
			}
		}()
	}
	for i := 1; i <= 300; i++ {
		write(i)
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d failed reads, first: %v", failures.Load(), firstFailure.Load())
	}
	if mixes.Load() > 0 {
		t.Fatalf("%d of %d pair reads saw two generations", mixes.Load(), pairs.Load())
	}
	if pairs.Load() == 0 {
		t.Fatal("no consistent pair read completed")
	}
	if got := readFile(t, filepath.Join(dir, "left")); got != "gen-000300" {
		t.Errorf("final left = %q", got)
	}
}

// readPair reads both keys from one generation, as an application wanting a consistent
// snapshot does: open ..data once, read relative to it. A generation deleted under the reader
// shows as ENOENT and is retried by the caller, never as a mix.
func readPair(dir string, pairs, mixes *atomic.Int64) error {
	d, err := os.Open(filepath.Join(dir, dataLink))
	if err != nil {
		return err
	}
	defer d.Close()
	var vals [2]string
	for i, k := range []string{"left", "right"} {
		fd, err := unix.Openat(int(d.Fd()), k, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), k)
		b := make([]byte, 64)
		n, _ := f.Read(b)
		f.Close()
		vals[i] = string(b[:n])
	}
	if vals[0] == "" && vals[1] == "" {
		return nil
	}
	pairs.Add(1)
	if vals[0] != vals[1] {
		mixes.Add(1)
	}
	return nil
}

func TestValidatePayloadPath(t *testing.T) {
	for _, tt := range []struct {
		path string
		ok   bool
	}{
		{"a", true}, {"a/b/c", true}, {"a..b", true}, {".hidden", true},
		{"", false}, {"/a", false}, {"a/", false}, {"a//b", false}, {"./a", false},
		{"..", false}, {"../a", false}, {"..data", false}, {"a/../b", false}, {strings.Repeat("x", 256), false},
	} {
		err := validatePayloadPath(tt.path)
		if (err == nil) != tt.ok {
			t.Errorf("validatePayloadPath(%q) = %v, want ok=%v", tt.path, err, tt.ok)
		}
	}
}
