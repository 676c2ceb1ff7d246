package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectationsTTL bounds how long a lost watch event can stall a job: after it the cache is
// trusted again.
const expectationsTTL = 5 * time.Minute

// expectations remember the writes a job's sync made that the informer has not shown yet, so that
// the next sync neither creates pods again nor counts a pod twice on a stale cache.
type expectations struct {
	mu   sync.Mutex
	jobs map[string]*jobExpectations
}

type jobExpectations struct {
	creates int
	since   time.Time
	// deletes and finalizers hold pod UIDs asked to be deleted or to lose the tracking finalizer.
	deletes    map[types.UID]bool
	finalizers map[types.UID]bool
}

func newExpectations() *expectations { return &expectations{jobs: map[string]*jobExpectations{}} }

func (e *expectations) get(key string, now time.Time) *jobExpectations {
	j := e.jobs[key]
	if j == nil {
		j = &jobExpectations{deletes: map[types.UID]bool{}, finalizers: map[types.UID]bool{}}
		e.jobs[key] = j
	}
	j.since = now
	return j
}

// satisfied says whether pods may be created or deleted: every earlier create and delete is seen.
func (e *expectations) satisfied(key string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.jobs[key]
	if j == nil || (j.creates <= 0 && len(j.deletes) == 0) {
		return true
	}
	if now.Sub(j.since) > expectationsTTL {
		j.creates = 0
		clear(j.deletes)
		return true
	}
	return false
}

func (e *expectations) expectCreates(key string, n int, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key, now).creates += n
}

func (e *expectations) createObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if j := e.jobs[key]; j != nil && j.creates > 0 {
		j.creates--
	}
}

func (e *expectations) expectDelete(key string, uid types.UID, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key, now).deletes[uid] = true
}

func (e *expectations) deleteObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if j := e.jobs[key]; j != nil {
		delete(j.deletes, uid)
	}
}

func (e *expectations) expectFinalizerRemoved(key string, uid types.UID, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key, now).finalizers[uid] = true
}

func (e *expectations) finalizerRemovedObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if j := e.jobs[key]; j != nil {
		delete(j.finalizers, uid)
	}
}

// finalizerRemovalPending says the cache may still show a finalizer that is already gone.
func (e *expectations) finalizerRemovalPending(key string, uid types.UID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.jobs[key]
	return j != nil && j.finalizers[uid]
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.jobs, key)
}
