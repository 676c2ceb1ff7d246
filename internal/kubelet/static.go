package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/kubelet/staticpod"
)

// staticPollInterval is how often the manifest directory is re-read, as upstream's file source
// does without inotify.
const staticPollInterval = 20 * time.Second

// errAPINotSynced: the pods informer has not synced yet (or the API server is unreachable), so
// a mirror pod can be neither found nor created; static pods run regardless.
var errAPINotSynced = errors.New("waiting for the API server to sync the node's pods")

// staticPods is what the agent read from its manifest directory last.
type staticPods struct {
	mu     sync.Mutex
	byUID  map[types.UID]*v1.Pod
	byName map[string]types.UID // namespace/name
	seen   map[types.UID]time.Time
	read   bool // the directory was read at least once
	node   *v1.Node
}

func newStaticPods() *staticPods {
	return &staticPods{byUID: map[types.UID]*v1.Pod{}, byName: map[string]types.UID{}, seen: map[types.UID]time.Time{}}
}

func (s *staticPods) get(uid types.UID) *v1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byUID[uid]
}

func (s *staticPods) byFullName(ns, name string) (*v1.Pod, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byUID[s.byName[ns+"/"+name]]
	return p, ok
}

// runStaticPods re-reads the manifest directory every staticPollInterval until ctx ends.
func (k *Kubelet) runStaticPods(ctx context.Context) {
	t := k.cfg.Clock.NewTicker(k.cfg.StaticPodPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			k.syncStaticPods()
		}
	}
}

// syncStaticPods reads the manifest directory and starts, replaces or stops static pods to
// match. A file that cannot be read keeps nothing of what it defined running: as upstream, the
// directory is the whole truth of each read.
func (k *Kubelet) syncStaticPods() {
	s := k.static
	pods, errs := staticpod.Read(k.cfg.PodManifestPath, k.cfg.NodeName, func(uid types.UID) time.Time {
		s.mu.Lock()
		defer s.mu.Unlock()
		t, ok := s.seen[uid]
		if !ok {
			t = k.cfg.Clock.Now()
			s.seen[uid] = t
		}
		return t
	})
	for _, err := range errs {
		k.log.Warn("static pod manifest", "path", k.cfg.PodManifestPath, "err", err)
	}
	s.mu.Lock()
	want := map[types.UID]*v1.Pod{}
	for _, p := range pods {
		want[p.UID] = p
	}
	var added, removed []*v1.Pod
	for uid, p := range s.byUID {
		if want[uid] == nil {
			removed = append(removed, p)
			delete(s.byUID, uid)
			delete(s.seen, uid)
		}
	}
	s.byName = map[string]types.UID{}
	for uid, p := range want {
		if s.byUID[uid] == nil {
			if k.stopping(uid) {
				// The same content came back while its pod is still stopping: run it again
				// once that is over, at a later read.
				continue
			}
			added = append(added, p)
			s.byUID[uid] = p
		}
		s.byName[p.Namespace+"/"+p.Name] = uid
	}
	s.read = true
	s.mu.Unlock()
	for _, p := range removed {
		k.log.Info("static pod removed from the manifest directory", "pod", p.Namespace+"/"+p.Name, "podUID", p.UID)
		last := p.DeepCopy()
		// Stopping a static pod is graceful, as a deletion with the pod's own grace period.
		g := int64(gracePeriod(p) / time.Second)
		last.DeletionGracePeriodSeconds = &g
		k.podGone(p.UID, last)
	}
	for _, p := range added {
		k.log.Info("static pod found in the manifest directory", "pod", p.Namespace+"/"+p.Name, "podUID", p.UID)
		k.podChanged(p)
	}
}

// mirrorChanged hands news of a mirror pod in the API to the worker of its static pod, which
// recreates it when it was deleted or stands for other content.
func (k *Kubelet) mirrorChanged(m *v1.Pod) {
	p, ok := k.static.byFullName(m.Namespace, m.Name)
	if !ok {
		return
	}
	k.mu.Lock()
	w := k.workers[p.UID]
	k.mu.Unlock()
	if w != nil {
		w.poke()
	}
}

// ensureMirror returns the mirror pod of static pod p, creating it (and first deleting one
// that is being deleted or stands for other content) as needed.
func (k *Kubelet) ensureMirror(ctx context.Context, p *v1.Pod) (*v1.Pod, error) {
	if k.synced == nil || !k.synced() {
		return nil, errAPINotSynced
	}
	pods := k.client.CoreV1().Pods(p.Namespace)
	m, err := k.lister.Pods(p.Namespace).Get(p.Name)
	if apierrors.IsNotFound(err) {
		// The informer may lag behind a create of ours: ask the API itself.
		m, err = pods.Get(ctx, p.Name, metav1.GetOptions{})
	}
	switch {
	case err == nil && !staticpod.IsMirror(m):
		return nil, fmt.Errorf("pod %s/%s exists in the API and is not the mirror of the static pod", p.Namespace, p.Name)
	case err == nil && staticpod.MirrorOf(m, p) && m.DeletionTimestamp == nil:
		return m, nil
	case err == nil:
		// Deleted by someone (it comes back at once: the static pod still runs) or left by
		// other content of the manifest.
		zero := int64(0)
		err := pods.Delete(ctx, m.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero,
			Preconditions: &metav1.Preconditions{UID: &m.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return nil, fmt.Errorf("deleting outdated mirror pod: %w", err)
		}
		k.log.Info("deleted an outdated mirror pod", "pod", p.Namespace+"/"+p.Name, "mirrorUID", m.UID)
	case !apierrors.IsNotFound(err):
		return nil, err
	}
	node, err := k.nodeObject(ctx)
	if err != nil {
		return nil, err
	}
	m, err = pods.Create(ctx, staticpod.Mirror(p, node), metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating mirror pod: %w", err)
	}
	k.log.Info("created mirror pod", "pod", p.Namespace+"/"+p.Name, "podUID", p.UID, "mirrorUID", m.UID)
	return m, nil
}

// deleteMirror deletes the mirror pod of a static pod that is gone, unless it already stands
// for other content of the same name.
func (k *Kubelet) deleteMirror(ctx context.Context, p *v1.Pod) error {
	pods := k.client.CoreV1().Pods(p.Namespace)
	m, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !staticpod.MirrorOf(m, p) {
		return nil
	}
	zero := int64(0)
	err = pods.Delete(ctx, m.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero,
		Preconditions: &metav1.Preconditions{UID: &m.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting mirror pod: %w", err)
	}
	return nil
}

// deleteOrphanedMirrors deletes mirror pods bound here whose static pod is no longer in the
// manifest directory (removed while the agent was down).
func (k *Kubelet) deleteOrphanedMirrors(ctx context.Context, pods []*v1.Pod) {
	k.static.mu.Lock()
	read := k.static.read
	k.static.mu.Unlock()
	if !read && k.cfg.PodManifestPath != "" {
		return
	}
	for _, m := range pods {
		if !staticpod.IsMirror(m) || m.DeletionTimestamp != nil && m.DeletionGracePeriodSeconds != nil && *m.DeletionGracePeriodSeconds == 0 {
			continue
		}
		if _, ok := k.static.byFullName(m.Namespace, m.Name); ok {
			continue // its static pod's worker keeps (or replaces) it
		}
		zero := int64(0)
		err := k.client.CoreV1().Pods(m.Namespace).Delete(ctx, m.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero,
			Preconditions: &metav1.Preconditions{UID: &m.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			k.log.Warn("deleting an orphaned mirror pod", "pod", m.Namespace+"/"+m.Name, "err", err)
			continue
		}
		k.log.Info("deleted an orphaned mirror pod", "pod", m.Namespace+"/"+m.Name)
	}
}

// nodeObject is this agent's Node (its uid owns mirror pods); read once.
func (k *Kubelet) nodeObject(ctx context.Context) (*v1.Node, error) {
	k.static.mu.Lock()
	n := k.static.node
	k.static.mu.Unlock()
	if n != nil {
		return n, nil
	}
	n, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the node: %w", err)
	}
	k.static.mu.Lock()
	k.static.node = n
	k.static.mu.Unlock()
	return n, nil
}

// stopping says whether the pod's worker is killing it for good.
func (k *Kubelet) stopping(uid types.UID) bool {
	k.mu.Lock()
	w := k.workers[uid]
	k.mu.Unlock()
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gone
}
