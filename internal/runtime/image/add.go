package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// imageSource is an image from anywhere (a registry, a docker save tarball, an OCI layout),
// reduced to what the store keeps.
type imageSource struct {
	rawConfig []byte
	// blobs are extra documents to keep by digest (manifest, index), for RepoDigests to mean
	// something; docker save imports have none.
	blobs  map[string][]byte
	layers []layerSource
}

// unpackJobs bounds parallel layer downloads+unpacks: enough to overlap network and disk on
// a small node without starving the containers already running there.
const unpackJobs = 3

// add unpacks src's layers (those not already present) and records the image under names.
func (s *Store) add(ctx context.Context, src imageSource, names []string) (Image, error) {
	cf, err := v1.ParseConfigFile(bytes.NewReader(src.rawConfig))
	if err != nil {
		return Image{}, fmt.Errorf("%w: image config: %w", ErrInvalidImage, err)
	}
	diffIDs := make([]string, len(cf.RootFS.DiffIDs))
	for i, d := range cf.RootFS.DiffIDs {
		diffIDs[i] = d.String()
	}
	if len(diffIDs) != len(src.layers) {
		return Image{}, fmt.Errorf("%w: config lists %d layers, manifest %d", ErrInvalidImage, len(diffIDs), len(src.layers))
	}
	for i := range src.layers {
		if src.layers[i].diffID == "" {
			src.layers[i].diffID = diffIDs[i]
		}
		if src.layers[i].diffID != diffIDs[i] {
			return Image{}, fmt.Errorf("%w: layer %d is %s, config says %s", ErrInvalidImage, i, src.layers[i].diffID, diffIDs[i])
		}
	}
	chains := chainIDs(diffIDs)
	l, err := s.newLease(chains)
	if err != nil {
		return Image{}, err
	}
	defer s.releaseLease(l)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(unpackJobs)
	for i := range src.layers {
		g.Go(func() error { return s.ensureLayer(gctx, l, chains[i], src.layers[i]) })
	}
	if err := g.Wait(); err != nil {
		return Image{}, err
	}

	id := sha256Digest(src.rawConfig)
	var size int64
	for _, c := range chains {
		size += s.layerSize(c)
	}
	var img Image
	err = s.update(func(idx *indexFile) (bool, error) {
		blobs := []string{id}
		if err := s.writeBlob(id, src.rawConfig); err != nil {
			return false, err
		}
		for d, b := range src.blobs {
			if err := s.writeBlob(d, b); err != nil {
				return false, err
			}
			blobs = append(blobs, d)
		}
		sort.Strings(blobs)
		now := s.cfg.Now()
		rec := idx.Images[id]
		if rec == nil {
			rec = &imageRecord{ID: id, Added: now}
			idx.Images[id] = rec
		}
		rec.Layers, rec.Size, rec.Created, rec.LastUsed = chains, size, cf.Created.Time, now
		rec.Config = configOf(cf)
		rec.Blobs = mergeSorted(rec.Blobs, blobs)
		for _, n := range names {
			idx.Refs[n] = id
		}
		// A tag that moved off an image may leave it with no name: docker keeps such dangling
		// images for GC to collect, and so do we.
		img = idx.image(id)
		return true, nil
	})
	return img, err
}

func (s *Store) writeBlob(digest string, b []byte) error {
	if got := sha256Digest(b); got != digest {
		return fmt.Errorf("%w: blob is %s, expected %s", ErrInvalidImage, got, digest)
	}
	if _, err := os.Stat(s.blobPath(digest)); err == nil {
		return nil
	}
	return writeFileAtomic(s.blobPath(digest), b)
}

func mergeSorted(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range append(append([]string{}, a...), b...) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func configOf(cf *v1.ConfigFile) ImageConfig {
	c := cf.Config
	ic := ImageConfig{
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, User: c.User,
		Labels: c.Labels, StopSignal: c.StopSignal, OS: cf.OS, Architecture: cf.Architecture,
	}
	for p := range c.ExposedPorts {
		ic.ExposedPorts = append(ic.ExposedPorts, p)
	}
	for v := range c.Volumes {
		ic.Volumes = append(ic.Volumes, v)
	}
	sort.Strings(ic.ExposedPorts)
	sort.Strings(ic.Volumes)
	return ic
}
