package build

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Epoch is the time every file and the image config carry: a fixed instant, so that building the
// same inputs twice gives the same layer bytes and so the same digest.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Registry is the name prefix of every image this package builds. It is no registry anyone runs:
// the images reach a node by import, or by a push to a registry a test starts.
const Registry = "skiff.local/test"

// recipeVersion is mixed into every Spec key; bump it when the way entries become layers changes,
// so that caches keyed by Key do not serve images built the old way.
const recipeVersion = "skiff-test-images/1"

// Kind says what an Entry is in the image's filesystem.
type Kind int

const (
	KindFile Kind = iota
	KindDir
	KindSymlink
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "dir"
	case KindSymlink:
		return "symlink"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Entry is one path of an image's root filesystem.
type Entry struct {
	Path   string      // absolute, clean: "/usr/sbin/nginx"
	Kind   Kind        //
	Mode   fs.FileMode // permission bits plus setuid/setgid/sticky; ignored for symlinks
	Data   []byte      // file content
	Target string      // symlink target, as written
	UID    int
	GID    int
}

// File, Dir and Symlink make entries owned by root.
func File(p string, mode fs.FileMode, data []byte) Entry {
	return Entry{Path: p, Kind: KindFile, Mode: mode, Data: data}
}

func Dir(p string, mode fs.FileMode) Entry { return Entry{Path: p, Kind: KindDir, Mode: mode} }

func Symlink(p, target string) Entry {
	return Entry{Path: p, Kind: KindSymlink, Mode: 0o777, Target: target}
}

// Config is the part of the OCI image config a test image sets.
type Config struct {
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	Env          []string          `json:"env,omitempty"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	User         string            `json:"user,omitempty"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"` // "80/tcp"
	StopSignal   string            `json:"stopSignal,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// Spec is everything an image is made of. Two Specs with the same Key build byte-identical images.
type Spec struct {
	Name       string // short name tests use: "nginx"
	Repository string // Registry + "/" + Name
	Tag        string // explicit version, never "latest"
	Config     Config
	Entries    []Entry
}

// Ref is the image's full name with its tag.
func (s *Spec) Ref() string { return s.Repository + ":" + s.Tag }

// DefaultPath is the PATH every test image sets, the one Debian and the docker library images use.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Validate checks what would make a bad or misleading image: a malformed or :latest reference,
// relative or duplicate paths, parents that are not directories.
func (s *Spec) Validate() error {
	if s.Tag == "" || s.Tag == "latest" {
		return fmt.Errorf("image %s: needs an explicit version tag, not %q", s.Name, s.Tag)
	}
	if !strings.HasPrefix(s.Repository, Registry+"/") {
		return fmt.Errorf("image %s: repository %q is not under %s/", s.Name, s.Repository, Registry)
	}
	if _, err := name.NewTag(s.Ref(), name.StrictValidation); err != nil {
		return fmt.Errorf("image %s: %w", s.Name, err)
	}
	_, err := s.normalized()
	return err
}

// normalized returns the entries sorted by path with every missing parent directory added (0755,
// root), which a tar extractor would otherwise invent with whatever mode it likes.
func (s *Spec) normalized() ([]Entry, error) {
	byPath := map[string]Entry{}
	for _, e := range s.Entries {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || e.Path == "/" {
			return nil, fmt.Errorf("image %s: path %q must be absolute and clean", s.Name, e.Path)
		}
		if _, dup := byPath[e.Path]; dup {
			return nil, fmt.Errorf("image %s: %s given twice", s.Name, e.Path)
		}
		if e.Kind == KindSymlink && e.Target == "" {
			return nil, fmt.Errorf("image %s: symlink %s has no target", s.Name, e.Path)
		}
		byPath[e.Path] = e
	}
	for _, e := range s.Entries {
		for dir := path.Dir(e.Path); dir != "/"; dir = path.Dir(dir) {
			p, ok := byPath[dir]
			if !ok {
				byPath[dir] = Dir(dir, 0o755)
				continue
			}
			if p.Kind != KindDir {
				return nil, fmt.Errorf("image %s: %s needs %s to be a directory, it is a %s", s.Name, e.Path, dir, p.Kind)
			}
		}
	}
	out := make([]Entry, 0, len(byPath))
	for _, e := range byPath {
		out = append(out, e)
	}
	// A path sorts before every path it prefixes, so parents precede their children.
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Key is a content hash of everything that goes into the image; caches use it to decide whether an
// image built earlier is still the one these inputs make.
func (s *Spec) Key() (string, error) {
	entries, err := s.normalized()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	cfg, err := json.Marshal(struct {
		Recipe, Ref, Arch string
		Config            Config
	}{recipeVersion, s.Ref(), runtime.GOARCH, s.Config})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "%d:%s", len(cfg), cfg)
	for _, e := range entries {
		sum := sha256.Sum256(e.Data)
		fmt.Fprintf(h, "|%s %d %o %d:%d %q %x", e.Path, e.Kind, e.Mode, e.UID, e.GID, e.Target, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// LayerTar is the uncompressed layer: every entry, parents first, with fixed times and no user or
// group names, so the bytes depend on the entries alone.
func (s *Spec) LayerTar() ([]byte, error) {
	entries, err := s.normalized()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(e.Path, "/"),
			ModTime: Epoch,
			Uid:     e.UID,
			Gid:     e.GID,
			Mode:    tarMode(e.Mode),
		}
		switch e.Kind {
		case KindFile:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.Data))
		case KindDir:
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case KindSymlink:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.Target
			hdr.Mode = 0o777
		default:
			return nil, fmt.Errorf("%s: unknown kind %v", e.Path, e.Kind)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Path, err)
		}
		if e.Kind == KindFile {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarMode converts Go's mode bits to the tar header's, which put setuid/setgid/sticky in the
// classic Unix positions.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// Built is an image made from a Spec, with the figures tests and reports quote.
type Built struct {
	Name   string
	Ref    string
	Key    string
	Image  v1.Image
	Digest v1.Hash // manifest digest: what a registry and the image store name it by
	ID     v1.Hash // config digest: what `docker images` calls the image ID
	Size   int64   // bytes of manifest, config and compressed layers
}

// Build makes the image. The layer is a single gzip-compressed tar; media types are Docker's
// schema 2, which every runtime reads and which survive a docker-save round trip unchanged, so an
// image imported from its archive keeps the digest it was built with.
func (s *Spec) Build() (*Built, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	key, err := s.Key()
	if err != nil {
		return nil, err
	}
	raw, err := s.LayerTar()
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: Epoch},
			CreatedBy: "skiff test/images/build " + s.Name,
			Comment:   "from files on the build machine; see Labels for their origin",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: Epoch}
	cf.Config = v1.Config{
		Entrypoint: s.Config.Entrypoint,
		Cmd:        s.Config.Cmd,
		Env:        s.Config.Env,
		WorkingDir: s.Config.WorkingDir,
		User:       s.Config.User,
		StopSignal: s.Config.StopSignal,
		Labels:     s.Config.Labels,
	}
	if len(s.Config.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range s.Config.ExposedPorts {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return describe(s.Name, s.Ref(), key, img)
}

func describe(shortName, ref, key string, img v1.Image) (*Built, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	size, err := ImageSize(img)
	if err != nil {
		return nil, err
	}
	return &Built{Name: shortName, Ref: ref, Key: key, Image: img, Digest: digest, ID: id, Size: size}, nil
}

// ImageSize is what a registry stores for the image: manifest, config and compressed layers.
func ImageSize(img v1.Image) (int64, error) {
	m, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	c, err := img.RawConfigFile()
	if err != nil {
		return 0, err
	}
	total := int64(len(m) + len(c))
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
