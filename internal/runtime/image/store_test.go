package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

// testRegistry serves an in-memory registry on loopback; wrap may add an auth check.
func testRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func push(t *testing.T, ref string, img v1.Image, opts ...remote.Option) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func randomImage(t testing.TB, layerSize int64, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(layerSize, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func layerOf(t testing.TB, entries ...entry) v1.Layer {
	t.Helper()
	b := tarOf(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// whiteoutImage: the upper layer deletes a file, replaces a directory and adds a file.
func whiteoutImage(t testing.TB) v1.Image {
	lower := layerOf(t,
		dir("etc/"), file("etc/keep", "k"), file("etc/gone", "g"),
		dir("data/"), file("data/old1", "1"), dir("data/sub/"), file("data/sub/old2", "2"),
		file("top", "t"),
	)
	upper := layerOf(t,
		dir("etc/"), entry{name: "etc/.wh.gone", typ: tar.TypeReg},
		dir("data/"), entry{name: "data/.wh..wh..opq", typ: tar.TypeReg}, file("data/new", "n"),
		entry{name: ".wh.top", typ: tar.TypeReg},
		file("added", "a"),
	)
	img, err := mutate.AppendLayers(empty.Image, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = []string{"/bin/app"}
	cf.Config.Cmd = []string{"--serve"}
	cf.Config.Env = []string{"PATH=/bin", "A=b"}
	cf.Config.WorkingDir = "/srv"
	cf.Config.User = "1000:1000"
	cf.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}, "53/udp": {}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = filepath.Join(t.TempDir(), "images")
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPullByFullNameAndInspect(t *testing.T) {
	host := testRegistry(t, nil)
	push(t, host+"/team/app:v1", whiteoutImage(t))
	rnd := randomImage(t, 2048, 3)
	push(t, host+"/rnd:1", rnd)
	s := openStore(t, Config{})
	ctx := context.Background()

	img, err := s.Pull(ctx, host+"/team/app:v1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.RepoTags) != 1 || img.RepoTags[0] != host+"/team/app:v1" || len(img.RepoDigests) != 1 {
		t.Errorf("names = %v %v", img.RepoTags, img.RepoDigests)
	}
	c := img.Config
	if strings.Join(c.Entrypoint, " ") != "/bin/app" || strings.Join(c.Cmd, " ") != "--serve" || c.WorkingDir != "/srv" ||
		c.User != "1000:1000" || strings.Join(c.ExposedPorts, ",") != "53/udp,8080/tcp" || len(c.Env) != 2 {
		t.Errorf("config = %+v", c)
	}
	// Lookups by every name the image has.
	for _, n := range []string{host + "/team/app:v1", img.ID, strings.TrimPrefix(img.ID, "sha256:")[:12], img.RepoDigests[0]} {
		got, err := s.Get(n)
		if err != nil || got.ID != img.ID {
			t.Errorf("Get(%q) = %v, %v", n, got.ID, err)
		}
	}

	r, err := s.Pull(ctx, host+"/rnd:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantID, _ := rnd.ConfigName()
	if r.ID != wantID.String() {
		t.Errorf("ID = %s, want config digest %s", r.ID, wantID)
	}
	lower, _, err := s.Mounts(host + "/rnd:1")
	if err != nil || len(lower) != 3 {
		t.Fatalf("Mounts = %v, %v", lower, err)
	}
	if r.Size < 3*2048 {
		t.Errorf("size = %d", r.Size)
	}
	list, _ := s.List()
	if len(list) != 2 {
		t.Errorf("List has %d images", len(list))
	}

	_, err = s.Pull(ctx, host+"/missing:1", PullOptions{})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("missing image: %v, want ErrNotFound", err)
	}
	_, err = s.Pull(ctx, host+"/rnd:nope", PullOptions{})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("missing tag: %v, want ErrNotFound", err)
	}
	_, err = s.Get("nothere:1")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing: %v", err)
	}
}

func TestPullNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there now
	s := openStore(t, Config{})
	_, err := s.Pull(context.Background(), host+"/x:1", PullOptions{})
	if !errors.Is(err, ErrNetwork) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want only ErrNetwork", err)
	}
}

func TestPullThroughMirror(t *testing.T) {
	host := testRegistry(t, nil)
	img := randomImage(t, 1024, 2)
	push(t, host+"/library/foo:1", img)
	s := openStore(t, Config{RegistryMirrors: map[string][]string{"docker.io": {"http://" + host}}})
	got, err := s.Pull(context.Background(), "docker.io/library/foo:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.RepoTags[0] != "docker.io/library/foo:1" {
		t.Errorf("tags = %v", got.RepoTags)
	}
	if g, err := s.Get("foo:1"); err != nil || g.ID != got.ID {
		t.Errorf("Get(foo:1) = %v, %v", g.ID, err)
	}
}

func TestPullWithBasicAuth(t *testing.T) {
	host := testRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	push(t, host+"/private/app:1", randomImage(t, 512, 1), remote.WithAuth(basicAuth("alice", "s3cret")))
	secret := func(user, pw string) []byte {
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
		return []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth))
	}
	tests := []struct {
		name    string
		secrets [][]byte
		wantErr error
	}{
		{"no secret", nil, ErrUnauthorized},
		{"wrong password", [][]byte{secret("alice", "nope")}, ErrUnauthorized},
		{"other registry's secret", [][]byte{[]byte(`{"auths":{"elsewhere.example":{"username":"alice","password":"s3cret"}}}`)}, ErrUnauthorized},
		{"right secret", [][]byte{secret("alice", "s3cret")}, nil},
		{"right secret after a wrong one", [][]byte{secret("alice", "nope"), secret("alice", "s3cret")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, Config{})
			_, err := s.Pull(context.Background(), host+"/private/app:1", PullOptions{PullSecrets: tc.secrets})
			if tc.wantErr == nil && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != nil && (!errors.Is(err, tc.wantErr) || errors.Is(err, ErrNotFound)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestRepullSharesLayers(t *testing.T) {
	host := testRegistry(t, nil)
	base := randomImage(t, 1024, 3)
	extra := layerOf(t, file("extra", "e"))
	derived, err := mutate.AppendLayers(base, extra)
	if err != nil {
		t.Fatal(err)
	}
	push(t, host+"/base:1", base)
	push(t, host+"/derived:1", derived)
	s := openStore(t, Config{})
	ctx := context.Background()

	// Concurrent pulls of one image unpack each layer once.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Pull(ctx, host+"/base:1", PullOptions{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.unpacks.Load(); n != 3 {
		t.Fatalf("unpacked %d layers for a 3-layer image pulled 4 times at once", n)
	}
	lower, _, _ := s.Mounts(host + "/base:1")
	before, _ := os.Stat(lower[0])

	if _, err := s.Pull(ctx, host+"/base:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := s.unpacks.Load(); n != 3 {
		t.Errorf("re-pull unpacked again: %d", n)
	}
	if _, err := s.Pull(ctx, host+"/derived:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := s.unpacks.Load(); n != 4 {
		t.Errorf("derived image unpacked %d layers in total, want 4 (3 shared)", n)
	}
	dlower, _, _ := s.Mounts(host + "/derived:1")
	if len(dlower) != 4 || dlower[1] != lower[0] {
		t.Errorf("derived lower dirs %v do not share base's %v", dlower, lower)
	}
	after, _ := os.Stat(lower[0])
	if !os.SameFile(before, after) {
		t.Error("shared layer dir was replaced")
	}

	// A second process (another Store on the same root) sees the same layers.
	s2 := openStore(t, Config{Root: s.Root()})
	if _, err := s2.Pull(ctx, host+"/derived:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if s2.unpacks.Load() != 0 {
		t.Errorf("second store instance unpacked %d layers", s2.unpacks.Load())
	}
}

func TestImportDockerSaveAndOCILayout(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	img := whiteoutImage(t)
	tag, _ := name.NewTag("example.com/app:v1")
	tarPath := filepath.Join(t.TempDir(), "save.tar")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		t.Fatal(err)
	}
	got, err := s.Import(ctx, tarPath)
	if err != nil {
		t.Fatal(err)
	}
	wantID, _ := img.ConfigName()
	if len(got) != 1 || got[0].ID != wantID.String() || got[0].RepoTags[0] != "example.com/app:v1" {
		t.Fatalf("imported %+v", got)
	}
	lower, cfg, err := s.Mounts("example.com/app:v1")
	if err != nil || len(lower) != 2 || cfg.WorkingDir != "/srv" {
		t.Fatalf("Mounts = %v %+v %v", lower, cfg, err)
	}
	if b, err := os.ReadFile(filepath.Join(lower[1], "etc/keep")); err != nil || string(b) != "k" {
		t.Errorf("lower layer etc/keep = %q, %v", b, err)
	}

	// An OCI layout directory, named by the containerd annotation.
	dirPath := filepath.Join(t.TempDir(), "oci")
	lp, err := layout.Write(dirPath, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	rnd := randomImage(t, 256, 2)
	if err := lp.AppendImage(rnd, layout.WithAnnotations(map[string]string{annotationContainerdName: "registry.local/oci/img:2"})); err != nil {
		t.Fatal(err)
	}
	got, err = s.Import(ctx, dirPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].RepoTags) != 1 || got[0].RepoTags[0] != "registry.local/oci/img:2" {
		t.Fatalf("OCI import = %+v", got)
	}
	// The same layout as a tar archive is the same image.
	archive := filepath.Join(t.TempDir(), "oci.tar")
	if out, err := exec.Command("tar", "-C", dirPath, "-cf", archive, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	again, err := s.Import(ctx, archive)
	if err != nil || len(again) != 1 || again[0].ID != got[0].ID {
		t.Fatalf("OCI archive import = %+v, %v", again, err)
	}
	if _, err := s.Import(ctx, tarPath+".missing"); err == nil {
		t.Error("importing a missing file succeeded")
	}
}

func TestRemoveAndGC(t *testing.T) {
	host := testRegistry(t, nil)
	shared := randomImage(t, 512, 1)
	a, _ := mutate.AppendLayers(shared, layerOf(t, file("a", "a")))
	b, _ := mutate.AppendLayers(shared, layerOf(t, file("b", "b")))
	c := randomImage(t, 512, 1)
	for n, img := range map[string]v1.Image{"a": a, "b": b, "c": c} {
		push(t, host+"/"+n+":1", img)
	}
	now := time.Unix(1800000000, 0)
	usage := struct{ used, total uint64 }{50, 100}
	s := openStore(t, Config{
		Now:       func() time.Time { return now },
		DiskUsage: func(string) (uint64, uint64, error) { return usage.used, usage.total, nil },
	})
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		now = now.Add(time.Minute)
		if _, err := s.Pull(ctx, host+"/"+n+":1", PullOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	layerCount := func() int {
		ents, _ := os.ReadDir(filepath.Join(s.Root(), "layers"))
		return len(ents)
	}
	if n := layerCount(); n != 4 {
		t.Fatalf("%d layers, want 4 (shared base + a + b + c)", n)
	}
	now = now.Add(time.Minute)
	aLower, _, _ := s.Mounts(host + "/a:1") // a is now the most recently used
	now = now.Add(time.Minute)

	// Below the high threshold nothing but unreferenced layers goes.
	res, err := s.GC(ctx, GCPolicy{HighThresholdPercent: 85, LowThresholdPercent: 80}, nil)
	if err != nil || len(res.RemovedImages) != 0 || res.RemovedLayers != 0 {
		t.Fatalf("GC below threshold = %+v, %v", res, err)
	}

	cID, _ := c.ConfigName()
	aID, _ := a.ConfigName()
	// Over the threshold: unused images go oldest-used first until usage is down to the low
	// threshold. Freeing 10 bytes of a 100-byte disk takes c's layer alone.
	usage.used = 90
	res, err = s.GC(ctx, GCPolicy{HighThresholdPercent: 85, LowThresholdPercent: 80}, []string{host + "/b:1"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.RemovedImages, ",") != cID.String() || res.RemovedLayers != 1 || res.FreedBytes < 512 {
		t.Errorf("first GC = %+v, want only c and its one layer", res)
	}
	// A much fuller disk: every unused image goes; b is in use and stays.
	usage.used, usage.total = 900<<30, 1000<<30
	res, err = s.GC(ctx, GCPolicy{HighThresholdPercent: 85, LowThresholdPercent: 80}, []string{host + "/b:1"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.RemovedImages, ",") != aID.String() {
		t.Errorf("second GC removed %v, want a", res.RemovedImages)
	}
	if res.RemovedLayers != 1 {
		t.Errorf("removed %d layers, want 1 (a's top; the shared base stays for b)", res.RemovedLayers)
	}
	if _, err := os.Stat(aLower[0]); !os.IsNotExist(err) {
		t.Errorf("a's own layer still on disk: %v", err)
	}
	if _, err := os.Stat(aLower[1]); err != nil {
		t.Errorf("shared base layer gone: %v", err)
	}
	if _, _, err := s.Mounts(host + "/b:1"); err != nil {
		t.Errorf("in-use image b unusable after GC: %v", err)
	}
	if _, err := s.Get(host + "/a:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a still present: %v", err)
	}

	// Remove by name drops the image and its last layers and blobs.
	if err := s.Remove(host + "/b:1"); err != nil {
		t.Fatal(err)
	}
	if n := layerCount(); n != 0 {
		t.Errorf("%d layers left after removing the last image", n)
	}
	blobs, _ := os.ReadDir(filepath.Join(s.Root(), "blobs", "sha256"))
	if len(blobs) != 0 {
		t.Errorf("%d blobs left", len(blobs))
	}
	if err := s.Remove(host + "/b:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v", err)
	}
}

func TestGCKeepsLeasedLayersAndCleansDebris(t *testing.T) {
	s := openStore(t, Config{DiskUsage: func(string) (uint64, uint64, error) { return 0, 100, nil }})
	chain := "sha256:" + strings.Repeat("ab", 32)
	l, err := s.newLease([]string{chain})
	if err != nil {
		t.Fatal(err)
	}
	// A layer being built by a live pull, and debris of a dead one.
	if err := os.MkdirAll(filepath.Join(s.layerDir(chain), "diff"), 0o755); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(s.Root(), "tmp", "999-dead_"+strings.Repeat("cd", 32))
	os.MkdirAll(dead, 0o755)
	os.WriteFile(filepath.Join(s.Root(), "leases", "999-dead"), []byte(chain), 0o600)
	mine := filepath.Join(s.Root(), "tmp", l.id+"_x")
	os.MkdirAll(mine, 0o755)

	if _, err := s.GC(context.Background(), GCPolicy{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.layerDir(chain)); err != nil {
		t.Error("GC removed a layer a live pull holds")
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Error("dead pull's staging dir survived")
	}
	if _, err := os.Stat(mine); err != nil {
		t.Error("live pull's staging dir removed")
	}
	s.releaseLease(l)
	if res, err := s.GC(context.Background(), GCPolicy{}, nil); err != nil || res.RemovedLayers != 1 {
		t.Errorf("GC after release = %+v, %v", res, err)
	}
}

// TestWhiteoutsThroughOverlay mounts a pulled image's layers with overlayfs and checks what a
// container would see.
func TestWhiteoutsThroughOverlay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for whiteouts and mount")
	}
	host := testRegistry(t, nil)
	push(t, host+"/wh:1", whiteoutImage(t))
	s := openStore(t, Config{})
	if _, err := s.Pull(context.Background(), host+"/wh:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	lower, _, err := s.Mounts(host + "/wh:1")
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lower, ":")); err != nil {
		t.Skipf("overlayfs mount unavailable: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	tests := []struct {
		path    string
		visible bool
		body    string
	}{
		{"etc/keep", true, "k"},
		{"etc/gone", false, ""},
		{"top", false, ""},
		{"data/new", true, "n"},
		{"data/old1", false, ""},
		{"data/sub", false, ""},
		{"added", true, "a"},
	}
	for _, tc := range tests {
		b, err := os.ReadFile(filepath.Join(mnt, tc.path))
		switch {
		case tc.visible && (err != nil || string(b) != tc.body):
			t.Errorf("%s = %q, %v; want %q", tc.path, b, err, tc.body)
		case !tc.visible && !os.IsNotExist(err) && !errors.Is(err, unix.EISDIR):
			t.Errorf("%s visible through overlay (err %v)", tc.path, err)
		}
	}
	if _, err := os.Stat(filepath.Join(mnt, "data/sub")); !os.IsNotExist(err) {
		t.Errorf("data/sub survived the opaque dir: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(mnt, "data"))
	if len(ents) != 1 {
		t.Errorf("data/ lists %d entries, want only new", len(ents))
	}
}

// TestPullTiming measures pulling and unpacking a ~10 MB image from a loopback registry.
func TestPullTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	host := testRegistry(t, nil)
	push(t, host+"/big:1", randomImage(t, 10<<20/4, 4))
	s := openStore(t, Config{})
	start := time.Now()
	img, err := s.Pull(context.Background(), host+"/big:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	t.Logf("pull+unpack of a %.1f MB, 4-layer image: %v (%.1f MB/s)", float64(img.Size)/1e6, elapsed, float64(img.Size)/1e6/elapsed.Seconds())
	start = time.Now()
	if _, err := s.Pull(context.Background(), host+"/big:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("re-pull (layers shared, manifest only): %v", time.Since(start))
}

// failingReader yields some of a layer and then fails, as a dropped connection does.
type failingReader struct{ r io.Reader }

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset")
	}
	return n, err
}

func TestInterruptedOrCorruptPullLeavesNothing(t *testing.T) {
	good := tarOf(t, file("a", strings.Repeat("x", 4096)), file("b", "b"))
	cfgFor := func(diffID string) []byte {
		return []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + diffID + `"]}}`)
	}
	goodID := sha256Digest(good)
	tests := []struct {
		name    string
		config  []byte
		open    func() (io.ReadCloser, error)
		wantErr error
	}{
		{"stream breaks mid-layer", cfgFor(goodID), func() (io.ReadCloser, error) {
			return io.NopCloser(&failingReader{bytes.NewReader(good[:len(good)/2])}), nil
		}, nil},
		{"content does not match diff ID", cfgFor(sha256Digest([]byte("other"))), func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(good)), nil
		}, ErrInvalidImage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, Config{})
			_, err := s.add(context.Background(), imageSource{rawConfig: tc.config, layers: []layerSource{{open: tc.open}}}, []string{"example.com/x:1"})
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("add = %v, want failure %v", err, tc.wantErr)
			}
			if imgs, _ := s.List(); len(imgs) != 0 {
				t.Errorf("failed pull left images %v", imgs)
			}
			for _, d := range []string{"layers", "tmp", "leases"} {
				if ents, _ := os.ReadDir(filepath.Join(s.Root(), d)); len(ents) != 0 {
					t.Errorf("%s/ holds %d entries after a failed pull", d, len(ents))
				}
			}
		})
	}
}
