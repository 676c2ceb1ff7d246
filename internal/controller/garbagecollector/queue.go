package garbagecollector

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// queued is a change, or a barrier closed once every change pushed before it is in the graph.
type queued struct {
	change  change
	barrier chan struct{}
}

// changeQueue hands informer observations to the graph builder in order. It never blocks the
// informers that push, so it is unbounded.
type changeQueue struct {
	mu     sync.Mutex
	items  []queued
	signal chan struct{}
}

func newChangeQueue() *changeQueue { return &changeQueue{signal: make(chan struct{}, 1)} }

func (q *changeQueue) push(c change) { q.add(queued{change: c}) }

func (q *changeQueue) add(it queued) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// take waits for items and returns all of them; false once ctx ends.
func (q *changeQueue) take(ctx context.Context) ([]queued, bool) {
	for {
		q.mu.Lock()
		items := q.items
		q.items = nil
		q.mu.Unlock()
		if len(items) > 0 {
			return items, true
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-q.signal:
		}
	}
}

// flush waits until everything pushed so far has been applied.
func (q *changeQueue) flush(ctx context.Context) {
	b := make(chan struct{})
	q.add(queued{barrier: b})
	select {
	case <-b:
	case <-ctx.Done():
	}
}

// absentCache remembers owners a live read found missing, so that the many dependents of one
// deleted owner cost one lookup. uids are never reused, so an entry never turns wrong; the map is
// emptied when full rather than tracked for recency.
type absentCache struct {
	mu  sync.Mutex
	max int
	m   map[absentKey]struct{}
}

type absentKey struct {
	namespace string
	uid       types.UID
}

func newAbsentCache(max int) *absentCache {
	return &absentCache{max: max, m: map[absentKey]struct{}{}}
}

func (c *absentCache) add(namespace string, uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.m = map[absentKey]struct{}{}
	}
	c.m[absentKey{namespace, uid}] = struct{}{}
}

func (c *absentCache) has(namespace string, uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[absentKey{namespace, uid}]
	return ok
}
