package admission

import (
	"sync"
	"time"
)

// Recent remembers for a short window the keys (namespaces, usually) where a write that a plugin
// depends on was just admitted: a new quota, a new limit range, a namespace being deleted. Only
// there does the plugin pay for reading past the watch cache, which may not show the write yet.
// It sees writes admitted by this server only; elsewhere the cache lag is the only window.
type Recent struct {
	Window time.Duration
	Now    func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time
}

// NewRecent returns a Recent with the given window.
func NewRecent(window time.Duration) *Recent {
	return &Recent{Window: window, Now: time.Now, seen: map[string]time.Time{}}
}

// Mark records a write at key now.
func (r *Recent) Mark(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.Now()
	for k, t := range r.seen {
		if now.Sub(t) > r.Window {
			delete(r.seen, k)
		}
	}
	r.seen[key] = now
}

// Has says whether key saw a write within the window.
func (r *Recent) Has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.seen[key]
	return ok && r.Now().Sub(t) <= r.Window
}
