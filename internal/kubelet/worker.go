package kubelet

import (
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/kubelet/prober"
)

func labelsEverything() labels.Selector { return labels.Everything() }

// podWorker is one pod's serialised life on the node. The informer and the prober hand it news
// under mu; only its goroutine reads and writes the rest.
type podWorker struct {
	uid             types.UID
	namespace, name string
	trigger         chan struct{}

	mu    sync.Mutex
	pod   *v1.Pod
	gone  bool
	kills map[string]prober.Update // by status container ID

	// Owned by the worker goroutine.
	waiting    map[string]*v1.ContainerStateWaiting
	podIP      string
	lastStatus *v1.PodStatus
	pullErrs   map[string]pullFailure // by image
	// repeats remembers the last repeating warning per key, so that a pod stuck on the same
	// error (a missing ConfigMap, a failing mount) records it again only every repeatEvery.
	repeats map[string]repeat
	deleted bool // the API object was deleted by this agent
	// mirrorUID is the mirror pod a static pod's status was last written to.
	mirrorUID types.UID
}

type repeat struct {
	msg string
	at  time.Time
}

// repeatEvery is how often a warning that keeps happening is recorded again.
const repeatEvery = 30 * time.Second

// shouldRecord says whether the warning msg under key is news.
func (w *podWorker) shouldRecord(key, msg string, now time.Time) bool {
	r, ok := w.repeats[key]
	if ok && r.msg == msg && now.Sub(r.at) < repeatEvery {
		return false
	}
	w.repeats[key] = repeat{msg: msg, at: now}
	return true
}

type pullFailure struct {
	at  time.Time
	err string
}

func newPodWorker(uid types.UID, ns, name string) *podWorker {
	return &podWorker{uid: uid, namespace: ns, name: name, trigger: make(chan struct{}, 1),
		kills: map[string]prober.Update{}, waiting: map[string]*v1.ContainerStateWaiting{},
		pullErrs: map[string]pullFailure{}, repeats: map[string]repeat{}}
}

func (w *podWorker) poke() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

func (w *podWorker) setPod(p *v1.Pod) {
	w.mu.Lock()
	w.pod = p
	w.mu.Unlock()
}

func (w *podWorker) setGone(last *v1.Pod) {
	w.mu.Lock()
	w.gone = true
	if last != nil {
		w.pod = last
	}
	w.mu.Unlock()
}

func (w *podWorker) requestKill(u prober.Update) {
	w.mu.Lock()
	w.kills[u.ContainerID] = u
	w.mu.Unlock()
}

// snapshot returns the latest pod, whether the API still has it, and the pending kills.
func (w *podWorker) snapshot() (*v1.Pod, bool, map[string]prober.Update) {
	w.mu.Lock()
	defer w.mu.Unlock()
	kills := w.kills
	w.kills = map[string]prober.Update{}
	return w.pod, w.gone, kills
}
