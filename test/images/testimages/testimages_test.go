package testimages

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/test/images/build"
)

func fakeSet() *Set {
	return &Set{Images: map[string]Image{
		Nginx:   {Name: Nginx, Ref: "skiff.local/test/nginx:1.22.1-9_deb12u11"},
		Busybox: {Name: Busybox, Ref: "skiff.local/test/busybox:1.35.0-4_deb12u1_b1"},
	}}
}

func TestSubstitute(t *testing.T) {
	const ngx = "skiff.local/test/nginx:1.22.1-9_deb12u11"
	const bb = "skiff.local/test/busybox:1.35.0-4_deb12u1_b1"
	cases := []struct {
		name, in, want string
		n              int
	}{
		{"yaml field", "    image: nginx:1.27\n", "    image: " + ngx + "\n", 1},
		{"list item", "      - image: nginx:1.27\n        name: web\n", "      - image: " + ngx + "\n        name: web\n", 1},
		{"quoted", "  image: \"nginx:1.27\"\n  x: 'busybox:1.36'\n  image: 'busybox:1.36'\n", "  image: \"" + ngx + "\"\n  x: 'busybox:1.36'\n  image: '" + bb + "'\n", 2},
		{"comment kept", "image: nginx:1.27 # upstream\n", "image: " + ngx + " # upstream\n", 1},
		{"fully qualified", "image: docker.io/library/nginx:1.27\n", "image: " + ngx + "\n", 1},
		{"json", `{"name":"a","image":"nginx:1.27"},{"image": "busybox:1.36"}`, `{"name":"a","image":"` + ngx + `"},{"image": "` + bb + `"}`, 2},
		{"other versions untouched", "image: nginx:1.26\nimage: nginx\nimage: perl:5.34.0\n", "image: nginx:1.26\nimage: nginx\nimage: perl:5.34.0\n", 0},
		{"not an image field", "description: nginx:1.27\n  myimage: nginx:1.27\n", "description: nginx:1.27\n  myimage: nginx:1.27\n", 0},
	}
	s := fakeSet()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, n := s.Substitute([]byte(tc.in))
			if string(got) != tc.want || n != tc.n {
				t.Fatalf("got %q (%d), want %q (%d)", got, n, tc.want, tc.n)
			}
		})
	}
}

func TestSubstituteExample(t *testing.T) {
	dir, err := build.ModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile(filepath.Join(dir, "examples", "nginx-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(in), "image: nginx:1.27") {
		t.Fatalf("the example no longer names nginx:1.27 for users with a registry:\n%s", in)
	}
	out, n := fakeSet().Substitute(in)
	if n != 1 || strings.Contains(string(out), "nginx:1.27") || !strings.Contains(string(out), "image: skiff.local/test/nginx:") {
		t.Fatalf("substituted %d:\n%s", n, out)
	}
}

// TestEnsureIn builds into an empty cache, then calls again and checks that nothing was rebuilt,
// that a stale version of an image is dropped, and that the images are the ones the build package
// makes.
func TestEnsureIn(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "nginx-0000000000000000.docker.tar")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := EnsureIn(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale archive still there: %v", err)
	}
	if len(first.Images) != 3 {
		t.Fatalf("images %v", first.Images)
	}
	mtimes := map[string]time.Time{}
	for name, img := range first.Images {
		fi, err := os.Stat(img.Archive)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mtimes[name] = fi.ModTime()
		if !strings.HasPrefix(img.Ref, build.Registry+"/"+name+":") || strings.HasSuffix(img.Ref, ":latest") {
			t.Errorf("%s: ref %q", name, img.Ref)
		}
		if img.Size <= 0 || !strings.HasPrefix(img.Digest, "sha256:") {
			t.Errorf("%s: size %d digest %q", name, img.Size, img.Digest)
		}
		loaded, err := build.ReadDockerArchive(img.Archive)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := loaded.Digest(); d.String() != img.Digest {
			t.Errorf("%s: archive holds %s, record says %s", name, d, img.Digest)
		}
	}
	if first.Ref(Nginx) == "nginx:1.27" || strings.Contains(first.Ref(Nginx), "1.27") {
		t.Fatalf("the local nginx is named as the upstream one: %s", first.Ref(Nginx))
	}

	start := time.Now()
	second, err := EnsureIn(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	warm := time.Since(start)
	for name, img := range second.Images {
		if img != first.Images[name] {
			t.Errorf("%s: %+v, then %+v", name, first.Images[name], img)
		}
		fi, _ := os.Stat(img.Archive)
		if !fi.ModTime().Equal(mtimes[name]) {
			t.Errorf("%s was rebuilt on a warm cache", name)
		}
	}
	t.Logf("warm EnsureIn took %s", warm)
	if got := len(second.Archives()); got != 3 {
		t.Fatalf("Archives() has %d entries", got)
	}
}

// TestEnsure checks that the per-machine cache Ensure uses holds the same images, digest for
// digest, as a fresh build: the cache key and the build agree.
func TestEnsure(t *testing.T) {
	set := Ensure(t)
	if again := Ensure(t); again != set {
		t.Fatal("second Ensure in one process returned a different set")
	}
	fresh, err := EnsureIn(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, img := range fresh.Images {
		if set.Images[name].Digest != img.Digest {
			t.Errorf("%s: cached %s, fresh build %s", name, set.Images[name].Digest, img.Digest)
		}
		t.Logf("%-10s %-45s %s %d bytes", name, img.Ref, img.Digest, img.Size)
	}
	if d, err := set.Load(t, Testserver).Digest(); err != nil || d.String() != set.Images[Testserver].Digest {
		t.Fatalf("Load: %v %v", d, err)
	}
}
