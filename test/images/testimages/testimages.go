package testimages

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-dev/skiff/test/images/build"
)

// Names of the images, as keys of Set.Images.
const (
	Testserver = build.Testserver
	Busybox    = build.Busybox
	Nginx      = build.Nginx
)

// Image is one built test image as it sits in the cache.
type Image struct {
	Name    string `json:"name"`    // "nginx"
	Ref     string `json:"ref"`     // "skiff.local/test/nginx:1.22.1-9_deb12u11"
	Digest  string `json:"digest"`  // manifest digest, "sha256:..."
	ID      string `json:"id"`      // config digest
	Size    int64  `json:"size"`    // manifest + config + compressed layers
	Archive string `json:"archive"` // docker-save tarball holding the image under Ref
	Key     string `json:"key"`     // content hash of what it was built from
}

// Set is every test image, built.
type Set struct {
	Dir    string           // the cache directory
	Images map[string]Image // by name
}

// Archives maps each image's name to its docker-save archive.
func (s *Set) Archives() map[string]string {
	out := map[string]string{}
	for n, img := range s.Images {
		out[n] = img.Archive
	}
	return out
}

// Ref is the full reference of the named image; it panics on a name the set does not have, which
// is a bug in the calling test.
func (s *Set) Ref(name string) string {
	img, ok := s.Images[name]
	if !ok {
		panic(fmt.Sprintf("testimages: no image %q", name))
	}
	return img.Ref
}

// Load opens the named image from its archive, for a test that pushes it or inspects it.
func (s *Set) Load(t testing.TB, name string) v1.Image {
	t.Helper()
	img, ok := s.Images[name]
	if !ok {
		t.Fatalf("testimages: no image %q", name)
	}
	v, err := build.ReadDockerArchive(img.Archive)
	if err != nil {
		t.Fatalf("testimages: loading %s: %v", img.Archive, err)
	}
	return v
}

var (
	mu      sync.Mutex
	ensured *Set
)

// Ensure returns the built test images, building whatever the cache lacks. The first call in a
// process does the work (a few seconds when the cache is cold, the go build of the testserver
// included; tens of milliseconds when warm); later calls return the same Set. Test binaries running
// in parallel serialise on a lock file in the cache, so the images are built once per machine.
// It fails the test when the images cannot be built, e.g. when the Debian packages are missing.
func Ensure(t testing.TB) *Set {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if ensured != nil {
		return ensured
	}
	dir, err := build.DefaultCacheDir()
	if err != nil {
		t.Fatalf("testimages: %v", err)
	}
	set, err := EnsureIn(context.Background(), dir)
	if err != nil {
		t.Fatalf("testimages: %v", err)
	}
	ensured = set
	return set
}

// EnsureIn is Ensure without a test: build what dir lacks, return the set.
func EnsureIn(ctx context.Context, dir string) (*Set, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	moduleDir, err := build.ModuleDir()
	if err != nil {
		return nil, err
	}
	set := &Set{Dir: dir, Images: map[string]Image{}}

	// The testserver's key comes from its sources, so a warm cache skips the go build.
	tsKey, err := testserverKey(moduleDir)
	if err != nil {
		return nil, err
	}
	ts, err := cached(dir, build.Testserver, tsKey, func() (*build.Spec, error) {
		return build.BuildTestserverSpec(ctx, moduleDir)
	})
	if err != nil {
		return nil, err
	}
	set.Images[build.Testserver] = ts

	for _, mk := range []func() (*build.Spec, error){build.BusyboxSpec, build.NginxSpec} {
		spec, err := mk()
		if err != nil {
			return nil, err
		}
		key, err := spec.Key()
		if err != nil {
			return nil, err
		}
		img, err := cached(dir, spec.Name, key, func() (*build.Spec, error) { return spec, nil })
		if err != nil {
			return nil, err
		}
		set.Images[spec.Name] = img
	}
	return set, nil
}

// cached returns the image recorded under key, or builds it, writes its archive and record, and
// removes the name's records for other keys so the cache holds one version of each image.
func cached(dir, name, key string, spec func() (*build.Spec, error)) (Image, error) {
	short := key[:16]
	record := filepath.Join(dir, name+"-"+short+".json")
	if b, err := os.ReadFile(record); err == nil {
		var img Image
		if json.Unmarshal(b, &img) == nil && img.Key == key {
			if _, err := os.Stat(img.Archive); err == nil {
				return img, nil
			}
		}
	}
	s, err := spec()
	if err != nil {
		return Image{}, err
	}
	b, err := s.Build()
	if err != nil {
		return Image{}, err
	}
	archive := filepath.Join(dir, name+"-"+short+".docker.tar")
	if err := build.WriteArchive(archive, build.FormatDocker, b.Ref, b.Image); err != nil {
		return Image{}, err
	}
	img := Image{Name: name, Ref: b.Ref, Digest: b.Digest.String(), ID: b.ID.String(), Size: b.Size, Archive: archive, Key: key}
	data, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return Image{}, err
	}
	// The record is written last and by rename: its presence means the archive is complete.
	tmp := record + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return Image{}, err
	}
	if err := os.Rename(tmp, record); err != nil {
		return Image{}, err
	}
	old, _ := filepath.Glob(filepath.Join(dir, name+"-*"))
	for _, p := range old {
		if !strings.HasPrefix(filepath.Base(p), name+"-"+short+".") {
			os.Remove(p)
		}
	}
	return img, nil
}

// testserverKey hashes what decides the testserver image without building it: the program's
// sources, the toolchain that compiles them, and the image spec around the binary.
func testserverKey(moduleDir string) (string, error) {
	h := sha256.New()
	specKey, err := build.TestserverSpec(nil).Key()
	if err != nil {
		return "", err
	}
	goVersion, err := exec.Command(build.GoTool(), "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	fmt.Fprintf(h, "%s|%s|%s\n", specKey, strings.TrimSpace(string(goVersion)), runtime.GOARCH)
	src := filepath.Join(moduleDir, "test", "images", "testserver")
	files, err := filepath.Glob(filepath.Join(src, "*.go"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("no testserver sources in %s", src)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Upstream maps the image references that example and test manifests name to the test image that
// stands in for each. The stand-in is a different build (Debian's nginx 1.22, busybox 1.35): it
// replaces the name in the manifest, and the local image keeps its own name.
var Upstream = map[string]string{
	"nginx:1.27":                     Nginx,
	"docker.io/library/nginx:1.27":   Nginx,
	"busybox:1.36":                   Busybox,
	"docker.io/library/busybox:1.36": Busybox,
}

// imageField matches an image reference in YAML ("image: nginx:1.27", quoted or not, also as a
// list item) and in JSON ("image": "nginx:1.27").
var imageField = regexp.MustCompile(`(?m)((?:^[ \t]*(?:-[ \t]+)?image:[ \t]*|"image"[ \t]*:[ \t]*)["']?)([^"'\s#,}]+)`)

// Substitute rewrites the image fields of a manifest whose reference Upstream knows to the local
// image's reference, and reports how many it rewrote. Other text is left as it is.
func (s *Set) Substitute(manifest []byte) ([]byte, int) {
	return SubstituteRefs(manifest, func(ref string) (string, bool) {
		name, ok := Upstream[ref]
		if !ok {
			return "", false
		}
		img, ok := s.Images[name]
		return img.Ref, ok
	})
}

// SubstituteRefs rewrites every image field for which local returns a replacement.
func SubstituteRefs(manifest []byte, local func(ref string) (string, bool)) ([]byte, int) {
	n := 0
	out := imageField.ReplaceAllFunc(manifest, func(m []byte) []byte {
		sub := imageField.FindSubmatch(m)
		repl, ok := local(string(sub[2]))
		if !ok {
			return m
		}
		n++
		return append(append([]byte(nil), sub[1]...), repl...)
	})
	return out, n
}
