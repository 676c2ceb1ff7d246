package build

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Format is an archive layout on disk.
type Format string

const (
	// FormatDocker is what `docker save` writes: manifest.json, the config and the layer blobs.
	FormatDocker Format = "docker"
	// FormatOCI is a tar of an OCI image layout (oci-layout, index.json, blobs/sha256/...), as
	// `docker buildx --output type=oci` or `ctr export` write.
	FormatOCI Format = "oci"
)

// WriteArchive writes img, named ref, to path in the given format. It writes a sibling temporary
// file and renames it into place, so a reader never sees half an archive.
func WriteArchive(path string, format Format, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	switch format {
	case FormatDocker:
		err = tarball.Write(tag, img, f)
	case FormatOCI:
		err = writeOCI(f, tag, img)
	default:
		err = fmt.Errorf("unknown archive format %q", format)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ReadDockerArchive opens an archive WriteArchive wrote in FormatDocker.
func ReadDockerArchive(path string) (v1.Image, error) {
	return tarball.ImageFromPath(path, nil)
}

// writeOCI writes the OCI layout as a tar with fixed times, so the archive is as reproducible as
// the image. The index names the image both ways tools look for it: the tag alone under the OCI
// annotation, the full reference under containerd's.
func writeOCI(w io.Writer, tag name.Tag, img v1.Image) error {
	tw := tar.NewWriter(w)
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: Epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: Epoch})
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	index := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: mt,
			Digest:    digest,
			Size:      int64(len(manifest)),
			Annotations: map[string]string{
				"org.opencontainers.image.ref.name": tag.TagStr(),
				"io.containerd.image.name":          tag.Name(),
			},
		}},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := put("index.json", indexJSON); err != nil {
		return err
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
	if err := put(blob(digest), manifest); err != nil {
		return err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	configName, err := img.ConfigName()
	if err != nil {
		return err
	}
	if err := put(blob(configName), config); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		err = tw.WriteHeader(&tar.Header{Name: blob(d), Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: Epoch})
		if err == nil {
			_, err = io.Copy(tw, rc)
		}
		rc.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// MirrorRef names ref as hosted by registry instead of skiff.local: same repository path, same
// tag. It is how a test puts a project image into the registry it runs without calling it
// something else.
func MirrorRef(ref, registry string) (string, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(registry, "/ ") || registry == "" {
		return "", fmt.Errorf("registry %q must be a host[:port]", registry)
	}
	return registry + "/" + tag.RepositoryStr() + ":" + tag.TagStr(), nil
}

// Push uploads img to a registry under dst. Registries on loopback are spoken to over plain HTTP,
// as go-containerregistry does for them by default.
func Push(ctx context.Context, img v1.Image, dst string, opts ...remote.Option) error {
	ref, err := name.ParseReference(dst, name.StrictValidation)
	if err != nil {
		return err
	}
	if t, ok := ref.(name.Tag); ok && t.TagStr() == "latest" {
		return fmt.Errorf("push %s: test images carry an explicit version tag, never latest", dst)
	}
	return remote.Write(ref, img, append([]remote.Option{remote.WithContext(ctx)}, opts...)...)
}

// DefaultCacheDir is where built test images are kept between runs: $SKIFF_TEST_IMAGES_DIR if set,
// else skiff/test-images under the user's cache directory ($XDG_CACHE_HOME or ~/.cache).
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("SKIFF_TEST_IMAGES_DIR"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "skiff", "test-images"), nil
}
