package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/sys/unix"
)

// Config configures a Store. Only Root is required.
type Config struct {
	// Root is the store's directory, by convention <data-dir>/images.
	Root string
	// RegistryMirrors maps a registry host ("docker.io", "quay.io") to mirror base URLs
	// ("http://127.0.0.1:5000") tried in order before the registry itself. An http:// mirror is
	// spoken to in plain HTTP.
	RegistryMirrors map[string][]string
	// InsecureRegistries are hosts reached over plain HTTP or TLS without verification.
	InsecureRegistries []string
	// Platform is "os/arch[/variant]" to pick from multi-platform images; the host's by default.
	Platform string
	// DiskUsage reports the used and total bytes of the filesystem holding path; statfs by
	// default. GC tests inject it to simulate a full disk.
	DiskUsage func(path string) (used, total uint64, err error)
	// Now is the clock for LastUsed and GC ages.
	Now func() time.Time
}

// Image describes one stored image. RepoTags and RepoDigests are normalised references.
type Image struct {
	// ID is the digest of the image config, as docker and CRI report it.
	ID          string   `json:"id"`
	RepoTags    []string `json:"repoTags,omitempty"`
	RepoDigests []string `json:"repoDigests,omitempty"`
	// Size is the bytes of file content in the image's unpacked layers.
	Size     int64       `json:"size"`
	Created  time.Time   `json:"created"`
	LastUsed time.Time   `json:"lastUsed"`
	Config   ImageConfig `json:"config"`
}

// ImageConfig is the part of the OCI image config a runtime needs to start a container.
type ImageConfig struct {
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	Env          []string          `json:"env,omitempty"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	User         string            `json:"user,omitempty"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"`
	Volumes      []string          `json:"volumes,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	StopSignal   string            `json:"stopSignal,omitempty"`
	OS           string            `json:"os,omitempty"`
	Architecture string            `json:"architecture,omitempty"`
}

// imageRecord is what index.json keeps per image; names live in indexFile.Refs so a tag can
// move between images by changing one key.
type imageRecord struct {
	ID       string      `json:"id"`
	Layers   []string    `json:"layers"` // chain IDs, bottom first
	Blobs    []string    `json:"blobs"`  // config, manifest and index digests this image owns
	Size     int64       `json:"size"`
	Created  time.Time   `json:"created"`
	Added    time.Time   `json:"added"`
	LastUsed time.Time   `json:"lastUsed"`
	Config   ImageConfig `json:"config"`
}

type indexFile struct {
	Images map[string]*imageRecord `json:"images"`
	// Refs maps "repo:tag" and "repo@digest" to an image ID.
	Refs map[string]string `json:"refs"`
}

// layerRecord is layer.json, written beside diff/ before the layer directory is renamed into place.
type layerRecord struct {
	ChainID string    `json:"chainID"`
	DiffID  string    `json:"diffID"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

// Store is a node's image store. It is safe for concurrent use by goroutines and by several
// processes on the same Root (the node agent and `skiff image`): every index change happens
// under an exclusive flock on Root/lock, and in-flight pulls hold leases (see doc.go).
type Store struct {
	cfg      Config
	root     string
	platform platform
	flight   singleflight.Group
	// unpacks counts layers actually extracted, so tests can prove sharing.
	unpacks atomic.Int64
	mu      sync.Mutex // serialises in-process writers before they take the flock
}

// Open creates the store's directories if needed and clears debris left by crashed pulls.
func Open(cfg Config) (*Store, error) {
	if cfg.Root == "" {
		return nil, errors.New("image store: Root is required")
	}
	if cfg.Platform == "" {
		cfg.Platform = runtime.GOOS + "/" + runtime.GOARCH
	}
	if cfg.DiskUsage == nil {
		cfg.DiskUsage = statfsUsage
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p, err := parsePlatform(cfg.Platform)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, root: root, platform: p}
	for _, d := range []string{"", "blobs/sha256", "layers", "leases", "tmp", "locks"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, err
		}
	}
	// Layer dirs are lower dirs of container rootfs: containers must be able to traverse them.
	if err := os.Chmod(filepath.Join(root, "layers"), 0o711); err != nil {
		return nil, err
	}
	if err := os.Chmod(root, 0o711); err != nil {
		return nil, err
	}
	err = s.update(func(idx *indexFile) (bool, error) {
		_, err := s.liveLeases(true)
		return false, err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// DiskUsage reports the used and total bytes of the filesystem holding the store, as GC sees
// them.
func (s *Store) DiskUsage() (used, total uint64, err error) { return s.cfg.DiskUsage(s.root) }

func (s *Store) layerDir(chainID string) string {
	return filepath.Join(s.root, "layers", digestHex(chainID))
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.root, "blobs", "sha256", digestHex(digest))
}

func digestHex(d string) string { return strings.TrimPrefix(d, "sha256:") }

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// lockFile takes a flock on path. flock conflicts between distinct open files even inside one
// process, so goroutines and processes are excluded alike.
func lockFile(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func unlockFile(f *os.File) {
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	f.Close()
}

// view runs fn on the current index under a shared lock.
func (s *Store) view(fn func(idx *indexFile) error) error {
	f, err := lockFile(filepath.Join(s.root, "lock"), unix.LOCK_SH)
	if err != nil {
		return err
	}
	defer unlockFile(f)
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	return fn(idx)
}

// update runs fn under the exclusive lock and writes the index back if fn reports a change.
// The index is re-read inside the lock because another process may have changed it.
func (s *Store) update(fn func(idx *indexFile) (bool, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := lockFile(filepath.Join(s.root, "lock"), unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlockFile(f)
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	// A change already made on disk (layers pruned) is recorded even if fn then failed.
	dirty, ferr := fn(idx)
	if !dirty {
		return ferr
	}
	b, err := json.MarshalIndent(idx, "", " ")
	if err == nil {
		err = writeFileAtomic(filepath.Join(s.root, "index.json"), b)
	}
	return errors.Join(ferr, err)
}

func (s *Store) readIndex() (*indexFile, error) {
	idx := &indexFile{Images: map[string]*imageRecord{}, Refs: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(s.root, "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, fmt.Errorf("image store index %s is corrupt: %w", filepath.Join(s.root, "index.json"), err)
	}
	if idx.Images == nil {
		idx.Images = map[string]*imageRecord{}
	}
	if idx.Refs == nil {
		idx.Refs = map[string]string{}
	}
	return idx, nil
}

// writeFileAtomic makes data durable under a temporary name, then renames it over path, so a
// reader sees the old or the new file, never a torn one.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// resolve finds the image a user-supplied name means: a reference first, then an image ID or a
// unique prefix of one (as `docker rmi 3f2a` works).
func (idx *indexFile) resolve(name string) (id, refKey string, err error) {
	if ref, perr := ParseReference(name); perr == nil {
		if id, ok := idx.Refs[ref.storeKey()]; ok {
			return id, ref.storeKey(), nil
		}
	}
	h := strings.TrimPrefix(name, "sha256:")
	if len(h) >= 4 && strings.Trim(h, "0123456789abcdef") == "" {
		var match string
		for id := range idx.Images {
			if strings.HasPrefix(digestHex(id), h) {
				if match != "" {
					return "", "", fmt.Errorf("%w: image ID prefix %q is ambiguous", ErrNotFound, name)
				}
				match = id
			}
		}
		if match != "" {
			return match, "", nil
		}
	}
	return "", "", fmt.Errorf("%w: %s", ErrNotFound, name)
}

func (idx *indexFile) image(id string) Image {
	rec := idx.Images[id]
	img := Image{ID: rec.ID, Size: rec.Size, Created: rec.Created, LastUsed: rec.LastUsed, Config: rec.Config}
	for key, rid := range idx.Refs {
		if rid != id {
			continue
		}
		if strings.Contains(key, "@") {
			img.RepoDigests = append(img.RepoDigests, key)
		} else {
			img.RepoTags = append(img.RepoTags, key)
		}
	}
	sort.Strings(img.RepoTags)
	sort.Strings(img.RepoDigests)
	return img
}

// List returns every stored image, ordered by ID.
func (s *Store) List() ([]Image, error) {
	var out []Image
	err := s.view(func(idx *indexFile) error {
		for id := range idx.Images {
			out = append(out, idx.image(id))
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// Get returns the image a reference or ID names, or an error wrapping ErrNotFound.
func (s *Store) Get(name string) (Image, error) {
	var img Image
	err := s.view(func(idx *indexFile) error {
		id, _, err := idx.resolve(name)
		if err != nil {
			return err
		}
		img = idx.image(id)
		return nil
	})
	return img, err
}

// Mounts returns the image's unpacked layers as overlayfs lower dirs, uppermost first (the order
// the lowerdir= option takes), with its config, and marks the image used now for GC.
func (s *Store) Mounts(name string) (lowerDirs []string, cfg ImageConfig, err error) {
	err = s.update(func(idx *indexFile) (bool, error) {
		id, _, err := idx.resolve(name)
		if err != nil {
			return false, err
		}
		rec := idx.Images[id]
		for i := len(rec.Layers) - 1; i >= 0; i-- {
			d := filepath.Join(s.layerDir(rec.Layers[i]), "diff")
			if _, err := os.Stat(d); err != nil {
				return false, fmt.Errorf("image %s: layer %s missing: %w", name, rec.Layers[i], err)
			}
			lowerDirs = append(lowerDirs, d)
		}
		cfg = rec.Config
		rec.LastUsed = s.cfg.Now()
		return true, nil
	})
	return lowerDirs, cfg, err
}

// Remove deletes a name; removing an image's last name, or naming it by ID, deletes the image
// and any layers and blobs no other image needs. Whether a container still runs from it is the
// caller's business (the kubelet passes in-use images to GC instead of removing them).
func (s *Store) Remove(name string) error {
	return s.update(func(idx *indexFile) (bool, error) {
		id, key, err := idx.resolve(name)
		if err != nil {
			return false, err
		}
		if key != "" {
			delete(idx.Refs, key)
			if len(idx.image(id).RepoTags) > 0 {
				return true, nil
			}
		}
		idx.dropImage(id)
		if _, _, err := s.prune(idx); err != nil {
			return true, err
		}
		return true, nil
	})
}

func (idx *indexFile) dropImage(id string) {
	delete(idx.Images, id)
	for k, v := range idx.Refs {
		if v == id {
			delete(idx.Refs, k)
		}
	}
}

func statfsUsage(path string) (used, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	total = st.Blocks * uint64(st.Bsize)
	return total - st.Bavail*uint64(st.Bsize), total, nil
}
