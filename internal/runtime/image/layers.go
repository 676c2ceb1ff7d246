package image

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// chainIDs computes the OCI chain IDs of a stack of diff IDs: a layer's identity includes
// everything below it, which is what makes an unpacked directory shareable between images.
func chainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1] + " " + d))
		out[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return out
}

// lease protects the layers a pull or import is building from GC and from stale-debris cleanup
// until the image that uses them is in the index. It is a file under leases/ that its owner
// holds flocked: a lease whose flock can be taken belongs to a dead process.
type lease struct {
	id string
	f  *os.File
}

func (s *Store) newLease(chains []string) (*lease, error) {
	var l *lease
	err := s.update(func(*indexFile) (bool, error) {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return false, err
		}
		id := fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b))
		p := filepath.Join(s.root, "leases", id)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err != nil {
			return false, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			os.Remove(p)
			return false, err
		}
		if _, err := f.WriteString(strings.Join(chains, "\n")); err != nil {
			unlockFile(f)
			os.Remove(p)
			return false, err
		}
		l = &lease{id: id, f: f}
		return false, nil
	})
	return l, err
}

func (s *Store) releaseLease(l *lease) {
	os.Remove(filepath.Join(s.root, "leases", l.id))
	unlockFile(l.f)
}

// liveLeases returns the chain IDs protected by running pulls. Called under the index lock;
// with clean set it also deletes dead leases and the staging dirs they left in tmp/.
func (s *Store) liveLeases(clean bool) (map[string]bool, error) {
	protected := map[string]bool{}
	live := map[string]bool{}
	ents, err := os.ReadDir(filepath.Join(s.root, "leases"))
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		p := filepath.Join(s.root, "leases", e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			// Nobody holds it: its pull died.
			if clean {
				os.Remove(p)
			}
			unlockFile(f)
			continue
		}
		b, _ := io.ReadAll(f)
		f.Close()
		live[e.Name()] = true
		for _, c := range strings.Split(string(b), "\n") {
			if c != "" {
				protected[c] = true
			}
		}
	}
	if clean {
		tmps, _ := os.ReadDir(filepath.Join(s.root, "tmp"))
		for _, t := range tmps {
			owner, _, _ := strings.Cut(t.Name(), "_")
			if !live[owner] {
				os.RemoveAll(filepath.Join(s.root, "tmp", t.Name()))
			}
		}
	}
	return protected, nil
}

// layerSource opens one layer's uncompressed tar stream.
type layerSource struct {
	diffID string
	open   func() (io.ReadCloser, error)
}

// ensureLayer makes layers/<chainID> exist, unpacking it at most once however many goroutines
// (singleflight) and processes (a per-layer flock) ask for it at the same time.
func (s *Store) ensureLayer(ctx context.Context, l *lease, chainID string, src layerSource) error {
	_, err, _ := s.flight.Do(chainID, func() (any, error) {
		if layerPresent(s.layerDir(chainID)) {
			return nil, nil
		}
		lk, err := s.lockLayer(ctx, chainID)
		if err != nil {
			return nil, err
		}
		defer unlockFile(lk)
		if layerPresent(s.layerDir(chainID)) {
			return nil, nil
		}
		return nil, s.unpackInto(ctx, l, chainID, src)
	})
	return err
}

func layerPresent(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "layer.json"))
	return err == nil
}

// lockLayer polls rather than blocks so a cancelled pull stops waiting on another's unpack.
func (s *Store) lockLayer(ctx context.Context, chainID string) (*os.File, error) {
	p := filepath.Join(s.root, "locks", digestHex(chainID)+".lock")
	for {
		f, err := lockFile(p, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// unpackInto stages the layer under tmp/ and renames it into place only once it is complete and
// its content matched the diff ID, so a crash never leaves a half layer where readers look.
func (s *Store) unpackInto(ctx context.Context, l *lease, chainID string, src layerSource) error {
	staging := filepath.Join(s.root, "tmp", l.id+"_"+digestHex(chainID))
	os.RemoveAll(staging)
	if err := os.MkdirAll(filepath.Join(staging, "diff"), 0o755); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(staging)
		}
	}()
	rc, err := src.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	r := io.TeeReader(&ctxReader{ctx: ctx, r: rc}, h)
	size, err := unpackLayer(r, filepath.Join(staging, "diff"))
	if err != nil {
		return fmt.Errorf("layer %s: %w", src.diffID, err)
	}
	// The tar reader stops at the end-of-archive marker: hash the padding after it too.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("layer %s: %w", src.diffID, err)
	}
	if got := digestOf(h); got != src.diffID {
		return fmt.Errorf("%w: layer content is %s, config says %s", ErrInvalidImage, got, src.diffID)
	}
	rec, _ := json.Marshal(layerRecord{ChainID: chainID, DiffID: src.diffID, Size: size, Created: s.cfg.Now()})
	if err := os.WriteFile(filepath.Join(staging, "layer.json"), rec, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(staging, 0o711); err != nil {
		return err
	}
	if err := os.Rename(staging, s.layerDir(chainID)); err != nil {
		return err
	}
	ok = true
	s.unpacks.Add(1)
	return syncDir(filepath.Join(s.root, "layers"))
}

func digestOf(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

func (s *Store) layerSize(chainID string) int64 {
	b, err := os.ReadFile(filepath.Join(s.layerDir(chainID), "layer.json"))
	if err != nil {
		return 0
	}
	var rec layerRecord
	if json.Unmarshal(b, &rec) != nil {
		return 0
	}
	return rec.Size
}

// ctxReader lets a cancelled context stop a long unpack between reads.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// prune deletes layers and blobs no image or live lease references, and dead pulls' debris.
// Called under the index lock. A layer is renamed out of layers/ before it is deleted, so a
// crash mid-delete never leaves a partial layer that looks complete.
func (s *Store) prune(idx *indexFile) (layers int, freed int64, err error) {
	keep, err := s.liveLeases(true)
	if err != nil {
		return 0, 0, err
	}
	blobs := map[string]bool{}
	for _, rec := range idx.Images {
		for _, c := range rec.Layers {
			keep[c] = true
		}
		for _, b := range rec.Blobs {
			blobs[digestHex(b)] = true
		}
	}
	ents, err := os.ReadDir(filepath.Join(s.root, "layers"))
	if err != nil {
		return 0, 0, err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || keep["sha256:"+e.Name()] {
			continue
		}
		chain := "sha256:" + e.Name()
		size := s.layerSize(chain)
		doomed := filepath.Join(s.root, "tmp", "gc_"+e.Name())
		if err := os.Rename(s.layerDir(chain), doomed); err != nil {
			return layers, freed, err
		}
		if err := os.RemoveAll(doomed); err != nil {
			return layers, freed, err
		}
		os.Remove(filepath.Join(s.root, "locks", e.Name()+".lock"))
		layers++
		freed += size
	}
	bents, err := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
	if err != nil {
		return layers, freed, err
	}
	for _, e := range bents {
		// Blobs are written under the index lock, so an unreferenced one (or a temp file) is garbage.
		if !blobs[e.Name()] {
			os.Remove(filepath.Join(s.root, "blobs", "sha256", e.Name()))
		}
	}
	return layers, freed, nil
}
