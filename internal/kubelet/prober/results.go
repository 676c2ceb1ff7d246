package prober

import (
	"context"
	"sync"
)

type resultKey struct {
	kind        Kind
	containerID string
}

// Results caches the current verdict of every probe by container instance.
// The status path reads it (Get); the kubelet's pod workers consume its
// change notifications (Updates).
type Results struct {
	mu      sync.RWMutex
	entries map[resultKey]Result
	updates chan Update
	done    <-chan struct{}
}

func newResults(buffer int, done <-chan struct{}) *Results {
	return &Results{entries: map[resultKey]Result{}, updates: make(chan Update, buffer), done: done}
}

// Get returns the cached result of the kind of probe for the container ID
// (status form). ok is false when no worker has set one.
func (r *Results) Get(kind Kind, containerID string) (Result, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	res, ok := r.entries[resultKey{kind, containerID}]
	return res, ok
}

// Updates delivers a change notification per changed result. Workers block
// on a full channel (as upstream's do), so the consumer must keep reading.
func (r *Results) Updates() <-chan Update { return r.updates }

// set stores u.Result and notifies when it differs from the cached one.
func (r *Results) set(ctx context.Context, u Update) {
	k := resultKey{u.Kind, u.ContainerID}
	r.mu.Lock()
	prev, ok := r.entries[k]
	changed := !ok || prev != u.Result
	r.entries[k] = u.Result
	r.mu.Unlock()
	if !changed {
		return
	}
	select {
	case r.updates <- u:
	case <-ctx.Done():
	case <-r.done:
	}
}

func (r *Results) remove(kind Kind, containerID string) {
	r.mu.Lock()
	delete(r.entries, resultKey{kind, containerID})
	r.mu.Unlock()
}

func (r *Results) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.entries)
}
