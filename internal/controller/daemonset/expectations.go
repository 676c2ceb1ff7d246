package daemonset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectationsTTL bounds how long a set waits for events it expects: a lost watch event must not
// stall a set forever.
const expectationsTTL = 5 * time.Minute

// expectations records, per set key, the creates and deletes the controller has sent and the
// cache has not shown yet.
type expectations struct {
	mu  sync.Mutex
	m   map[string]*pending
	now func() time.Time
}

type pending struct {
	adds int
	dels map[types.UID]bool
	at   time.Time
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{m: map[string]*pending{}, now: now}
}

func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.m[key]
	return p == nil || (p.adds <= 0 && len(p.dels) == 0) || e.now().Sub(p.at) > expectationsTTL
}

func (e *expectations) expect(key string, adds int, dels []types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := &pending{adds: adds, dels: make(map[types.UID]bool, len(dels)), at: e.now()}
	for _, u := range dels {
		p.dels[u] = true
	}
	e.m[key] = p
}

func (e *expectations) created(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.m[key]; p != nil {
		p.adds--
	}
}

func (e *expectations) deleted(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.m[key]; p != nil {
		delete(p.dels, uid)
	}
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
