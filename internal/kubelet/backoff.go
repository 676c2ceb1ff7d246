package kubelet

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Back-off bounds upstream uses for container restarts and image pulls.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	// backoffReset: a container that ran this long, or a key untouched this long, starts over.
	backoffReset = 10 * time.Minute
)

// backoff tracks an exponential delay per key (a container of a pod, an image of a pod). The
// first failure is retried at once; each retry after it waits twice as long as the one before,
// from backoffInitial up to backoffMax.
type backoff struct {
	clock clock.Clock
	mu    sync.Mutex
	keys  map[string]*backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	// since is the time of the failure the current delay counts from.
	since time.Time
}

func newBackoff(c clock.Clock) *backoff { return &backoff{clock: c, keys: map[string]*backoffEntry{}} }

// InBackoff says whether a retry of key for a failure at failedAt must still wait, and how long
// the current delay is.
func (b *backoff) InBackoff(key string, failedAt time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.keys[key]
	if e == nil || b.clock.Since(e.since) > backoffReset {
		return false, 0
	}
	return b.clock.Since(failedAt) < e.delay, e.delay
}

// Next records a retry for the failure at failedAt and doubles the delay for the next one.
func (b *backoff) Next(key string, failedAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.keys[key]
	switch {
	case e == nil || b.clock.Since(e.since) > backoffReset:
		e = &backoffEntry{delay: backoffInitial}
		b.keys[key] = e
	default:
		e.delay = min(e.delay*2, backoffMax)
	}
	e.since = failedAt
}

// Reset forgets key, after a container ran long enough or an image pull succeeded.
func (b *backoff) Reset(key string) {
	b.mu.Lock()
	delete(b.keys, key)
	b.mu.Unlock()
}

// Forget drops every key with the prefix (a pod that is gone).
func (b *backoff) Forget(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.keys {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(b.keys, k)
		}
	}
}
