package image

import (
	"context"
	"sort"
	"time"
)

// GCPolicy says when image GC removes images, as the kubelet's image GC thresholds do.
type GCPolicy struct {
	// HighThresholdPercent: when the filesystem holding the store is at least this full, unused
	// images are removed (oldest used first) until it is at most LowThresholdPercent full.
	// Unreferenced layers are removed whatever the usage.
	HighThresholdPercent int
	LowThresholdPercent  int
	// MinAge spares images used or added more recently than this.
	MinAge time.Duration
}

// GCResult reports what one GC pass removed.
type GCResult struct {
	RemovedImages []string // image IDs
	RemovedLayers int
	FreedBytes    int64
}

// GC removes images not in inUse (names or IDs of images containers use) as the policy asks,
// then every layer and blob no remaining image references.
func (s *Store) GC(ctx context.Context, policy GCPolicy, inUse []string) (GCResult, error) {
	var res GCResult
	err := s.update(func(idx *indexFile) (bool, error) {
		dirty := false
		used, total, err := s.cfg.DiskUsage(s.root)
		if err != nil {
			return false, err
		}
		if total > 0 && used*100 >= uint64(policy.HighThresholdPercent)*total {
			target := int64(used) - int64(uint64(policy.LowThresholdPercent)*total/100)
			keep := map[string]bool{}
			for _, n := range inUse {
				if id, _, err := idx.resolve(n); err == nil {
					keep[id] = true
				}
			}
			refs := map[string]int{}
			for _, rec := range idx.Images {
				for _, c := range rec.Layers {
					refs[c]++
				}
			}
			leased, err := s.liveLeases(false)
			if err != nil {
				return false, err
			}
			var candidates []*imageRecord
			now := s.cfg.Now()
			for id, rec := range idx.Images {
				if !keep[id] && now.Sub(rec.LastUsed) >= policy.MinAge {
					candidates = append(candidates, rec)
				}
			}
			sort.Slice(candidates, func(i, j int) bool {
				if !candidates[i].LastUsed.Equal(candidates[j].LastUsed) {
					return candidates[i].LastUsed.Before(candidates[j].LastUsed)
				}
				return candidates[i].ID < candidates[j].ID
			})
			var freed int64
			for _, rec := range candidates {
				if freed >= target || ctx.Err() != nil {
					break
				}
				for _, c := range rec.Layers {
					refs[c]--
					if refs[c] == 0 && !leased[c] {
						freed += s.layerSize(c)
					}
				}
				idx.dropImage(rec.ID)
				res.RemovedImages = append(res.RemovedImages, rec.ID)
				dirty = true
			}
		}
		n, freed, err := s.prune(idx)
		res.RemovedLayers, res.FreedBytes = n, freed
		return dirty, err
	})
	return res, err
}
