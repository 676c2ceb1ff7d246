package image

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/klauspost/compress/zstd"
)

// Import stores the images in a `docker save` tarball, an OCI image layout directory, or an
// OCI layout archive (either tar optionally gzip-compressed), and returns them. Images are named
// from the tarball's RepoTags or the layout's io.containerd.image.name / ref.name annotations;
// an unnamed image is kept by ID.
func (s *Store) Import(ctx context.Context, file string) ([]Image, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	dir := file
	if !fi.IsDir() {
		// Extract once into a leased staging dir: both formats are then plain directories, and
		// the extraction refuses path traversal as layer unpacking does.
		l, err := s.newLease(nil)
		if err != nil {
			return nil, err
		}
		defer s.releaseLease(l)
		dir = filepath.Join(s.root, "tmp", l.id+"_import")
		defer os.RemoveAll(dir)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		if err := extractArchive(ctx, file, dir); err != nil {
			return nil, fmt.Errorf("import %s: %w", file, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return s.importDockerSave(ctx, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		return s.importOCILayout(ctx, dir)
	}
	return nil, fmt.Errorf("%w: %s is neither a docker save tarball nor an OCI image layout", ErrInvalidImage, file)
}

func extractArchive(ctx context.Context, file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := decompress(bufio.NewReader(f))
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = unpackLayer(&ctxReader{ctx: ctx, r: r}, dir)
	return err
}

// decompress recognises gzip and zstd by their magic numbers; anything else is passed through.
func decompress(br *bufio.Reader) (io.ReadCloser, error) {
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return gzip.NewReader(br)
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		d, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

type dockerSaveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func (s *Store) importDockerSave(ctx context.Context, dir string) ([]Image, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var entries []dockerSaveEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("%w: manifest.json: %w", ErrInvalidImage, err)
	}
	var out []Image
	for _, e := range entries {
		cfgPath, err := insideDir(dir, e.Config)
		if err != nil {
			return out, err
		}
		src := imageSource{}
		if src.rawConfig, err = os.ReadFile(cfgPath); err != nil {
			return out, err
		}
		for _, lp := range e.Layers {
			p, err := insideDir(dir, lp)
			if err != nil {
				return out, err
			}
			src.layers = append(src.layers, layerSource{open: func() (io.ReadCloser, error) { return openMaybeCompressed(p) }})
		}
		var names []string
		for _, t := range e.RepoTags {
			ref, err := ParseReference(t)
			if err != nil {
				return out, err
			}
			names = append(names, ref.storeKey())
		}
		img, err := s.add(ctx, src, names)
		if err != nil {
			return out, err
		}
		out = append(out, img)
	}
	return out, nil
}

// insideDir resolves a path named by an archive's own metadata, refusing one that leaves dir.
func insideDir(dir, rel string) (string, error) {
	clean, err := cleanEntryName(rel)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, clean)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	if real != realDir && !strings.HasPrefix(real, realDir+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: %q points outside the archive", ErrInvalidImage, rel)
	}
	return real, nil
}

func openMaybeCompressed(p string) (io.ReadCloser, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	r, err := decompress(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{r, closers{r, f}}, nil
}

type closers []io.Closer

func (c closers) Close() error {
	var errs []error
	for _, x := range c {
		errs = append(errs, x.Close())
	}
	return errors.Join(errs...)
}

const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

func (s *Store) importOCILayout(ctx context.Context, dir string) ([]Image, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	ii, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	var out []Image
	for _, d := range im.Manifests {
		var name string
		for _, key := range []string{annotationContainerdName, annotationRefName} {
			if v := d.Annotations[key]; v != "" && strings.ContainsAny(v, "/:") {
				if ref, err := ParseReference(v); err == nil {
					name = ref.storeKey()
					break
				}
			}
		}
		top := d.Digest.String()
		img, blobs, err := s.layoutImage(ii, d)
		if err != nil {
			return out, err
		}
		src, err := sourceFromV1(img)
		if err != nil {
			return out, err
		}
		for k, v := range blobs {
			src.blobs[k] = v
		}
		var names []string
		if name != "" {
			ref, _ := ParseReference(name)
			names = append(names, name, ref.Repository()+"@"+top)
		}
		got, err := s.add(ctx, src, names)
		if err != nil {
			return out, err
		}
		out = append(out, got)
	}
	return out, nil
}

// layoutImage resolves a descriptor of an OCI layout's index to the image for this platform.
func (s *Store) layoutImage(ii v1.ImageIndex, d v1.Descriptor) (v1.Image, map[string][]byte, error) {
	if !d.MediaType.IsIndex() {
		img, err := ii.Image(d.Digest)
		return img, map[string][]byte{}, err
	}
	child, err := ii.ImageIndex(d.Digest)
	if err != nil {
		return nil, nil, err
	}
	raw, err := child.RawManifest()
	if err != nil {
		return nil, nil, err
	}
	cm, err := child.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	want := s.platform.v1()
	for _, m := range cm.Manifests {
		if m.Platform != nil && m.Platform.Satisfies(want) && m.MediaType.IsImage() {
			img, err := child.Image(m.Digest)
			return img, map[string][]byte{d.Digest.String(): raw}, err
		}
	}
	return nil, nil, fmt.Errorf("%w: no manifest for platform %s in %s", ErrNotFound, s.platform, d.Digest)
}

func sourceFromV1(img v1.Image) (imageSource, error) {
	src := imageSource{blobs: map[string][]byte{}}
	raw, err := img.RawManifest()
	if err != nil {
		return src, err
	}
	src.blobs[sha256Digest(raw)] = raw
	if src.rawConfig, err = img.RawConfigFile(); err != nil {
		return src, err
	}
	layers, err := img.Layers()
	if err != nil {
		return src, err
	}
	for _, l := range layers {
		src.layers = append(src.layers, layerSource{open: l.Uncompressed})
	}
	return src, nil
}
