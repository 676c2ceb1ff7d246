package expectations

import (
	"sync"
	"time"
)

// Timeout is how long unobserved expectations hold a controller back. A watch event can be lost
// (a dropped connection with a relist that merges create and delete), so a sync eventually acts
// on what the cache says rather than waiting forever.
const Timeout = 5 * time.Minute

// Expectations tracks outstanding creations (a count: created objects have names only once the
// server answers) and deletions (by object identity, so that a delete event seen twice, once from
// the update with a deletionTimestamp and once from the removal, counts once). The identity is
// the caller's choice (namespace/name or UID), used the same way when expecting and observing.
type Expectations struct {
	mu    sync.Mutex
	now   func() time.Time
	items map[string]*record
}

type record struct {
	adds    int
	deletes map[string]struct{}
	at      time.Time
}

// New returns empty expectations; now is the clock (nil: time.Now).
func New(now func() time.Time) *Expectations {
	if now == nil {
		now = time.Now
	}
	return &Expectations{now: now, items: map[string]*record{}}
}

// Satisfied reports whether the controller of key may act: nothing is outstanding, the
// outstanding writes are older than Timeout, or nothing was ever recorded for key.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.items[key]
	if !ok {
		return true
	}
	if r.adds <= 0 && len(r.deletes) == 0 {
		return true
	}
	return e.now().Sub(r.at) > Timeout
}

// Expect replaces what is expected for key with n creations and the deletion of objs, for a
// controller that sends both in one round.
func (e *Expectations) Expect(key string, n int, objs []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := &record{adds: n, deletes: make(map[string]struct{}, len(objs)), at: e.now()}
	for _, o := range objs {
		r.deletes[o] = struct{}{}
	}
	e.items[key] = r
}

// ExpectCreations replaces what is expected for key with n creations.
func (e *Expectations) ExpectCreations(key string, n int) { e.Expect(key, n, nil) }

// ExpectDeletions replaces what is expected for key with the deletion of objs.
func (e *Expectations) ExpectDeletions(key string, objs []string) { e.Expect(key, 0, objs) }

// CreationObserved lowers the creations expected for key by one: a created object was seen, or a
// create the controller expected failed or was skipped.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.items[key]; ok && r.adds > 0 {
		r.adds--
	}
}

// DeletionObserved records that obj is gone or going, or that its delete failed.
func (e *Expectations) DeletionObserved(key, obj string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.items[key]; ok {
		delete(r.deletes, obj)
	}
}

// Delete forgets key, when its owner is gone.
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}

// Pending returns the creations and deletions still expected for key (for logs and tests).
func (e *Expectations) Pending(key string) (adds, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.items[key]; ok {
		return r.adds, len(r.deletes)
	}
	return 0, 0
}
