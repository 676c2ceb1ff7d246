package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/image"
)

// GCPolicy bounds what dead containers and unused images keep on the node, with upstream's
// defaults: one dead instance per container of a pod (what `logs --previous` reads), a
// node-wide cap, containers collected every minute and images every five minutes once the
// image filesystem is 85% full, down to 80%.
type GCPolicy struct {
	// MaxPerPodContainer is how many dead instances of a pod's container are kept besides its
	// latest one (default 1; negative: no limit). The latest instance is never collected while
	// the pod exists: its state, exit code and restart count are the container's status.
	MaxPerPodContainer int
	// MaxContainers caps the dead instances kept on the node, oldest collected first (default
	// 100; negative: no limit).
	MaxContainers int
	// ContainerInterval and ImageInterval are the periods of the two collections.
	ContainerInterval time.Duration
	ImageInterval     time.Duration
	// ImageHighThresholdPercent and ImageLowThresholdPercent: unused images are removed, least
	// recently used first, once the image filesystem is this full, until it is that full.
	ImageHighThresholdPercent int
	ImageLowThresholdPercent  int
	// ImageMinAge spares images pulled or used more recently (default 2 min).
	ImageMinAge time.Duration
}

func (p *GCPolicy) defaults() error {
	if p.MaxPerPodContainer == 0 {
		p.MaxPerPodContainer = 1
	}
	if p.MaxContainers == 0 {
		p.MaxContainers = 100
	}
	if p.ContainerInterval <= 0 {
		p.ContainerInterval = time.Minute
	}
	if p.ImageInterval <= 0 {
		p.ImageInterval = 5 * time.Minute
	}
	if p.ImageHighThresholdPercent == 0 {
		p.ImageHighThresholdPercent = 85
	}
	if p.ImageLowThresholdPercent == 0 {
		p.ImageLowThresholdPercent = 80
	}
	if p.ImageMinAge == 0 {
		p.ImageMinAge = 2 * time.Minute
	}
	if p.ImageHighThresholdPercent > 100 || p.ImageLowThresholdPercent < 0 || p.ImageLowThresholdPercent > p.ImageHighThresholdPercent {
		return fmt.Errorf("kubelet: image GC thresholds %d%%/%d%%: want 0 <= low <= high <= 100",
			p.ImageLowThresholdPercent, p.ImageHighThresholdPercent)
	}
	return nil
}

// ImageCollector is an image store that can collect its unused images (StoreImages is one).
type ImageCollector interface {
	CollectImages(ctx context.Context, policy image.GCPolicy, inUse []string) (image.GCResult, error)
}

// FreeDiskSpaceError says that image GC could not bring the disk below the low threshold:
// too few images were unused.
type FreeDiskSpaceError struct {
	Want, Freed int64
}

func (e *FreeDiskSpaceError) Error() string {
	return fmt.Sprintf("Failed to garbage collect required amount of images. Attempted to free %d bytes, but only found %d bytes eligible to free.", e.Want, e.Freed)
}

// CollectImages runs the store's GC and reports a *FreeDiskSpaceError when it freed less than
// the policy asked for.
func (s StoreImages) CollectImages(ctx context.Context, policy image.GCPolicy, inUse []string) (image.GCResult, error) {
	used, total, err := s.Store.DiskUsage()
	if err != nil {
		return image.GCResult{}, fmt.Errorf("image filesystem usage: %w", err)
	}
	res, err := s.Store.GC(ctx, policy, inUse)
	if err != nil {
		return res, err
	}
	if total > 0 && used*100 >= uint64(policy.HighThresholdPercent)*total {
		want := int64(used) - int64(uint64(policy.LowThresholdPercent)*total/100)
		if res.FreedBytes < want {
			return res, &FreeDiskSpaceError{Want: want, Freed: res.FreedBytes}
		}
	}
	return res, nil
}

// gcLoop collects dead containers and unused images on the policy's periods until ctx ends.
func (k *Kubelet) gcLoop(ctx context.Context) {
	ct := k.cfg.Clock.NewTicker(k.cfg.GC.ContainerInterval)
	defer ct.Stop()
	it := k.cfg.Clock.NewTicker(k.cfg.GC.ImageInterval)
	defer it.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ct.C():
			if err := k.collectContainers(ctx); err != nil && ctx.Err() == nil {
				k.log.Warn("container garbage collection", "err", err)
			}
		case <-it.C():
			k.collectImages(ctx)
		}
	}
}

func (k *Kubelet) nodeRef() *v1.ObjectReference {
	return &v1.ObjectReference{Kind: "Node", Name: k.cfg.NodeName, UID: types.UID(k.cfg.NodeName)}
}

// collectImages removes unused images as the policy says; images of every container the
// runtime has, running or not, stay.
func (k *Kubelet) collectImages(ctx context.Context) {
	ic, ok := k.images.(ImageCollector)
	if !ok {
		return
	}
	cs, err := k.rt.ListContainers(ctx, nil)
	if err != nil {
		k.log.Warn("image garbage collection: listing containers", "err", err)
		return
	}
	var inUse []string
	for _, c := range cs {
		inUse = append(inUse, c.Image)
		if c.ImageRef != "" {
			inUse = append(inUse, c.ImageRef)
		}
	}
	res, err := ic.CollectImages(ctx, image.GCPolicy{
		HighThresholdPercent: k.cfg.GC.ImageHighThresholdPercent,
		LowThresholdPercent:  k.cfg.GC.ImageLowThresholdPercent,
		MinAge:               k.cfg.GC.ImageMinAge,
	}, inUse)
	if len(res.RemovedImages) > 0 || res.RemovedLayers > 0 {
		k.log.Info("image garbage collection", "node", k.cfg.NodeName, "images", len(res.RemovedImages),
			"layers", res.RemovedLayers, "freedBytes", res.FreedBytes)
	}
	if err == nil {
		return
	}
	k.log.Warn("image garbage collection failed", "node", k.cfg.NodeName, "err", err)
	var fe *FreeDiskSpaceError
	if errors.As(err, &fe) {
		k.recorder.Event(k.nodeRef(), v1.EventTypeWarning, "FreeDiskSpaceFailed", fe.Error())
	}
	k.recorder.Eventf(k.nodeRef(), v1.EventTypeWarning, "ImageGCFailed", "%v", err)
}

// deadInstance is a container instance GC may remove.
type deadInstance struct {
	c   *runtime.ContainerStatus
	pod *podWorker
}

// collectContainers removes dead container instances beyond the policy's bounds, with their
// logs, and logs no container owns any more. Only pods with a worker are looked at: the
// sandboxes of pods that are gone are housekeeping's.
func (k *Kubelet) collectContainers(ctx context.Context) error {
	k.mu.Lock()
	workers := make([]*podWorker, 0, len(k.workers))
	for _, w := range k.workers {
		workers = append(workers, w)
	}
	k.mu.Unlock()
	var kept []deadInstance
	var errs []error
	live := map[*podWorker]*podRuntime{}
	for _, w := range workers {
		pr, err := k.podRuntime(ctx, w.uid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		live[w] = pr
		for _, l := range pr.containers {
			if len(l) < 2 {
				continue
			}
			n := 0
			for _, c := range l[1:] {
				if c.State != runtime.ContainerExited {
					continue
				}
				if k.cfg.GC.MaxPerPodContainer >= 0 && n >= k.cfg.GC.MaxPerPodContainer {
					errs = append(errs, k.removeInstance(ctx, c))
					continue
				}
				n++
				kept = append(kept, deadInstance{c: c, pod: w})
			}
		}
	}
	if max := k.cfg.GC.MaxContainers; max >= 0 && len(kept) > max {
		sort.Slice(kept, func(i, j int) bool { return kept[i].c.FinishedAt.Before(kept[j].c.FinishedAt) })
		for _, d := range kept[:len(kept)-max] {
			errs = append(errs, k.removeInstance(ctx, d.c))
		}
	}
	for w := range live {
		pr, err := k.podRuntime(ctx, w.uid)
		if err != nil {
			continue
		}
		k.sweepLogs(w, pr)
	}
	return errors.Join(errs...)
}

// removeInstance removes a dead container and its log files.
func (k *Kubelet) removeInstance(ctx context.Context, c *runtime.ContainerStatus) error {
	if err := k.rt.RemoveContainer(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("removing dead container %s: %w", c.ID, err)
	}
	k.log.Debug("removed dead container", "pod", c.Labels[labelPodNamespace]+"/"+c.Labels[labelPodName],
		"container", c.Labels[labelContainerName], "attempt", c.Attempt)
	return nil
}

// logSweepMinAge spares log files younger than this: an instance's log is created a moment
// before the runtime lists the instance.
const logSweepMinAge = time.Minute

// sweepLogs removes the log files (rotated ones included) of a pod's container instances the
// runtime no longer has.
func (k *Kubelet) sweepLogs(w *podWorker, pr *podRuntime) {
	dir := k.podLogDir(&v1.Pod{ObjectMeta: metaOf(w)})
	owned := map[string]bool{}
	for _, l := range pr.containers {
		for _, c := range l {
			owned[c.LogPath] = true
		}
	}
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		if !n.IsDir() {
			continue
		}
		cdir := filepath.Join(dir, n.Name())
		files, _ := os.ReadDir(cdir)
		for _, f := range files {
			base, _, ok := strings.Cut(f.Name(), ".log")
			if !ok || owned[filepath.Join(cdir, base+".log")] {
				continue
			}
			info, err := f.Info()
			if err != nil || k.cfg.Clock.Since(info.ModTime()) < logSweepMinAge {
				continue
			}
			if err := os.Remove(filepath.Join(cdir, f.Name())); err == nil {
				k.log.Debug("removed the log of a collected container", "pod", w.namespace+"/"+w.name, "file", f.Name())
			}
		}
	}
}

func metaOf(w *podWorker) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: w.name, Namespace: w.namespace, UID: w.uid}
}
