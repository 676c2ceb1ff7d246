package storage

import (
	"context"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// watchBuffer is how many events a watcher may fall behind before it is closed. A closed watch is
// not an error for a client-go reflector: it resumes from the last resourceVersion it saw.
const watchBuffer = 4096

type watcher struct {
	ch        chan Event
	done      chan struct{}
	once      sync.Once
	prefix    string
	bookmarks bool
}

func (w *watcher) send(ev Event) bool {
	if w.prefix != "" && !strings.HasPrefix(ev.Item.Key, w.prefix) {
		return true
	}
	select {
	case w.ch <- ev:
		return true
	default:
		w.stop()
		return false
	}
}

func (w *watcher) trySend(ev Event) {
	select {
	case w.ch <- ev:
	default:
	}
}

func (w *watcher) stop() { w.once.Do(func() { close(w.done) }) }

// WatchOptions select what a watch delivers.
type WatchOptions struct {
	Namespace string
	// RV is the revision to start after. With InitialState the watch first delivers every current
	// object as ADDED (a "watch from now with state"), and RV is the minimum the state must reflect.
	RV           int64
	InitialState bool
	// Filter is the label/field selector; nil matches everything.
	Filter func(obj runtime.Object) bool
	// Bookmarks asks for periodic BOOKMARK events.
	Bookmarks bool
}

// Watch is an open watch on one resource.
type Watch struct {
	c       *cache
	w       *watcher
	pending []Event
	filter  func(obj runtime.Object) bool
	// StartRV is the revision the initial state reflects (the initial-events-end bookmark's).
	StartRV int64
}

// Watch opens a watch. It fails with ErrCompacted when RV is older than the cache's window.
func (r *Resource) Watch(ctx context.Context, opts WatchOptions) (*Watch, error) {
	if opts.RV > r.store.Revision() {
		if err := r.store.waitFor(ctx, opts.RV); err != nil {
			return nil, err
		}
	}
	prefix := ""
	if opts.Namespace != "" {
		prefix = opts.Namespace + "/"
	}
	w := &watcher{ch: make(chan Event, watchBuffer), done: make(chan struct{}), prefix: prefix, bookmarks: opts.Bookmarks}
	res := &Watch{c: r.cache, w: w, filter: opts.Filter}
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if opts.InitialState {
		for _, it := range c.snapshotLocked(prefix) {
			res.pending = append(res.pending, Event{Type: watch.Added, Item: it, RV: it.RV})
		}
		res.StartRV = c.rv
	} else {
		if opts.RV < c.historyStart {
			return nil, ErrCompacted
		}
		n := len(c.history)
		for i := 0; i < c.count; i++ {
			ev := c.history[(c.head+i)%n]
			if ev.RV > opts.RV && (prefix == "" || strings.HasPrefix(ev.Item.Key, prefix)) {
				res.pending = append(res.pending, ev)
			}
		}
		res.StartRV = opts.RV
	}
	c.watchers[w] = struct{}{}
	return res, nil
}

// Next returns the next event that passes the filter, converted for it: an object that stops
// matching is reported DELETED, one that starts matching ADDED. ok is false when the watch ended
// (stopped, closed by the server, or ctx done).
func (wa *Watch) Next(ctx context.Context) (Event, bool) { return wa.next(ctx, nil) }

func (wa *Watch) next(ctx context.Context, stop <-chan time.Time) (Event, bool) {
	for {
		var ev Event
		if len(wa.pending) > 0 {
			ev, wa.pending = wa.pending[0], wa.pending[1:]
		} else {
			select {
			case ev = <-wa.w.ch:
			case <-wa.w.done:
				// Drain what was queued before the close, so no event is lost on a clean stop.
				select {
				case ev = <-wa.w.ch:
				default:
					return Event{}, false
				}
			case <-ctx.Done():
				return Event{}, false
			case <-stop:
				return Event{}, false
			}
		}
		if out, ok := wa.convert(ev); ok {
			return out, true
		}
	}
}

// HasPending says whether events queued at the start (initial state or replayed history) remain.
func (wa *Watch) HasPending() bool { return len(wa.pending) > 0 }

// Buffered is how many live events wait to be read.
func (wa *Watch) Buffered() int { return len(wa.w.ch) }

// NextUntil is Next that also ends when stop fires (the watch's timeout).
func (wa *Watch) NextUntil(ctx context.Context, stop <-chan time.Time) (Event, bool) {
	return wa.next(ctx, stop)
}

// Done is closed when the server ends the watch.
func (wa *Watch) Done() <-chan struct{} { return wa.w.done }

func (wa *Watch) convert(ev Event) (Event, bool) {
	if ev.Type == watch.Bookmark || wa.filter == nil {
		return ev, true
	}
	switch ev.Type {
	case watch.Added:
		return ev, wa.filter(ev.Item.Object)
	case watch.Deleted:
		return ev, wa.filter(ev.Prev.Object)
	}
	cur, prev := wa.filter(ev.Item.Object), wa.filter(ev.Prev.Object)
	switch {
	case cur && prev:
		return ev, true
	case cur:
		ev.Type = watch.Added
		return ev, true
	case prev:
		return Event{Type: watch.Deleted, Item: ev.Prev, Prev: ev.Prev, RV: ev.RV}, true
	}
	return ev, false
}

// Stop ends the watch and releases it from the cache.
func (wa *Watch) Stop() {
	wa.c.mu.Lock()
	delete(wa.c.watchers, wa.w)
	wa.c.mu.Unlock()
	wa.w.stop()
}
