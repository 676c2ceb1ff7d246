package storage

import (
	"sort"
	"strings"
	"sync"
	"weak"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Item is one object held by a watch cache. Object is shared by every reader: never modify it.
type Item struct {
	Key    string // relative to the resource: "<namespace>/<name>" or "<name>"
	Object runtime.Object
	RV     int64

	memoMu sync.Mutex
	memo   map[string]weak.Pointer[encoding]
}

// encoding is a memoised serialisation, held weakly by its Item.
type encoding struct{ b []byte }

// Memo returns the encoding of the item named by key, computing it once while it is in use. The
// watchers of a change and the items of a list then share one serialisation instead of encoding
// the object per reader. The memo holds it weakly: it lives until the first garbage collection
// after its last reader is done, so the cache does not carry an encoding of every object in
// every format any client ever asked for.
func (it *Item) Memo(key string, compute func(runtime.Object) ([]byte, error)) ([]byte, error) {
	it.memoMu.Lock()
	defer it.memoMu.Unlock()
	if e := it.memo[key].Value(); e != nil {
		return e.b, nil
	}
	b, err := compute(it.Object)
	if err != nil {
		return nil, err
	}
	if it.memo == nil {
		it.memo = map[string]weak.Pointer[encoding]{}
	}
	e := &encoding{b: b}
	it.memo[key] = weak.Make(e)
	return e.b, nil
}

// Event is a change seen by a watch cache.
type Event struct {
	Type watch.EventType
	// Item is the object after the change (for DELETED: the last state before it).
	Item *Item
	// Prev is the object before the change, nil for ADDED.
	Prev *Item
	RV   int64
	// InitialEventsEnd marks the bookmark that ends the initial events of a watch.
	InitialEventsEnd bool
}

// cache is the watch cache of one resource.
type cache struct {
	mu     sync.RWMutex
	items  map[string]*Item
	sorted []string // keys in order; nil when it must be rebuilt
	rv     int64    // every event up to rv is applied

	// history is a ring of the newest events; every event with RV > historyStart is in it. It
	// grows up to window events as they come, so that the many resources that see few changes
	// hold a few events, not a window's worth of empty slots each.
	history      []Event
	window       int
	head, count  int
	historyStart int64

	watchers map[*watcher]struct{}
}

func newCache() *cache {
	return &cache{items: map[string]*Item{}, watchers: map[*watcher]struct{}{}}
}

func (c *cache) load(key string, obj runtime.Object, rev int64) {
	c.items[key] = &Item{Key: key, Object: obj, RV: rev}
	c.sorted = nil
}

func (c *cache) startHistory(rev int64, window int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.history, c.head, c.count = nil, 0, 0
	c.window = max(window, 1)
	c.historyStart = rev
	c.rv = rev
}

func (c *cache) put(key string, obj runtime.Object, rev int64) {
	it := &Item{Key: key, Object: obj, RV: rev}
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.items[key]
	c.items[key] = it
	ev := Event{Type: watch.Added, Item: it, RV: rev}
	if prev != nil {
		ev.Type, ev.Prev = watch.Modified, prev
	} else {
		c.sorted = nil
	}
	c.record(ev)
}

func (c *cache) remove(key string, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.items[key]
	if prev == nil {
		c.rv = rev
		return
	}
	delete(c.items, key)
	c.sorted = nil
	c.record(Event{Type: watch.Deleted, Item: prev, Prev: prev, RV: rev})
}

// record appends to the history and fans the event out; c.mu is held.
func (c *cache) record(ev Event) {
	c.rv = ev.RV
	n := len(c.history)
	if c.count == n && n < c.window {
		// Still growing: the ring has not wrapped, so head is 0 and the events are in order.
		c.history = append(c.history, ev)
		c.count++
		c.fanOut(ev)
		return
	}
	if c.count == n {
		// The oldest event falls out of the window: resuming before it is no longer possible.
		c.historyStart = c.history[c.head].RV
		c.head = (c.head + 1) % n
		c.count--
	}
	c.history[(c.head+c.count)%n] = ev
	c.count++
	c.fanOut(ev)
}

func (c *cache) fanOut(ev Event) {
	for w := range c.watchers {
		if !w.send(ev) {
			delete(c.watchers, w)
		}
	}
}

func (c *cache) progress(rev int64) {
	c.mu.Lock()
	if rev > c.rv {
		c.rv = rev
	}
	c.mu.Unlock()
}

func (c *cache) bookmark(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev < c.rv {
		rev = c.rv
	}
	for w := range c.watchers {
		if w.bookmarks {
			w.trySend(Event{Type: watch.Bookmark, RV: rev})
		}
	}
}

func (c *cache) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.watchers {
		w.stop()
		delete(c.watchers, w)
	}
}

func (c *cache) keys() []string {
	if c.sorted == nil {
		c.sorted = make([]string, 0, len(c.items))
		for k := range c.items {
			c.sorted = append(c.sorted, k)
		}
		sort.Strings(c.sorted)
	}
	return c.sorted
}

// snapshot returns the items under prefix in key order, and the revision they reflect.
func (c *cache) snapshot(prefix string) ([]*Item, int64) {
	c.mu.Lock() // keys() may rebuild the sorted index
	defer c.mu.Unlock()
	return c.snapshotLocked(prefix), c.rv
}

func (c *cache) snapshotLocked(prefix string) []*Item {
	keys := c.keys()
	start := 0
	if prefix != "" {
		start = sort.SearchStrings(keys, prefix)
	}
	var out []*Item
	for _, k := range keys[start:] {
		if prefix != "" && !strings.HasPrefix(k, prefix) {
			break
		}
		out = append(out, c.items[k])
	}
	return out
}

func (c *cache) get(key string) (*Item, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.items[key], c.rv
}
