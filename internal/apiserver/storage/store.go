package storage

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apiserver/scheme"
)

// Prefix is the root of every key the API server writes.
const Prefix = "/registry/"

// Store is the object store over one etcd client.
type Store struct {
	client *clientv3.Client
	log    *slog.Logger

	mu        sync.RWMutex
	resources map[string]*Resource // by key prefix "/registry/<group>/<resource>/"

	// rv is the newest etcd revision whose events have all been applied to the caches.
	rv       atomic.Int64
	rvMu     sync.Mutex
	rvSignal chan struct{} // closed and replaced whenever rv advances

	opts      Options
	ready     chan struct{}
	leases    *leaseManager
	stopWatch context.CancelFunc
	done      chan struct{}
}

// Options tune a Store.
type Options struct {
	// HistoryWindow is how many events per resource the watch cache keeps for watches that resume
	// from an older resourceVersion.
	HistoryWindow int
	// BookmarkInterval is how often watchers that asked for bookmarks get one.
	BookmarkInterval time.Duration
	Logger           *slog.Logger
}

// New creates a store; call Register for each resource, then Start.
func New(client *clientv3.Client, opts Options) *Store {
	if opts.HistoryWindow == 0 {
		opts.HistoryWindow = 10000
	}
	if opts.BookmarkInterval == 0 {
		opts.BookmarkInterval = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{
		client:    client,
		opts:      opts,
		log:       opts.Logger.With("component", "storage"),
		resources: map[string]*Resource{},
		rvSignal:  make(chan struct{}),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		leases:    newLeaseManager(client),
	}
	return s
}

// Client is the etcd client underneath, for components that keep their own keys (allocators).
func (s *Store) Client() *clientv3.Client { return s.client }

// Register declares a resource: its objects are stored under /registry/<group>/<resource>/ and
// decoded into values made by newFunc, of kind gvk.
func (s *Store) Register(gr schema.GroupResource, gvk schema.GroupVersionKind, newFunc func() runtime.Object) *Resource {
	group := gr.Group
	if group == "" {
		group = "core"
	}
	prefix := Prefix + group + "/" + gr.Resource + "/"
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.resources[prefix]; ok {
		return r
	}
	r := &Resource{store: s, prefix: prefix, gvk: gvk, newFunc: newFunc, cache: newCache()}
	s.resources[prefix] = r
	return r
}

// Start loads every registered resource into its cache and starts following etcd. It returns once
// the caches hold a consistent snapshot.
func (s *Store) Start(ctx context.Context) error {
	resp, err := s.client.Get(ctx, Prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("reading etcd revision: %w", err)
	}
	rev := resp.Header.Revision
	// Page through the snapshot at rev so start-up memory stays bounded by a page, not the store.
	key := Prefix
	end := clientv3.GetPrefixRangeEnd(Prefix)
	for {
		page, err := s.client.Get(ctx, key, clientv3.WithRange(end), clientv3.WithRev(rev), clientv3.WithLimit(1000))
		if err != nil {
			return fmt.Errorf("loading objects: %w", err)
		}
		for _, kv := range page.Kvs {
			r := s.resourceFor(string(kv.Key))
			if r == nil {
				continue
			}
			obj, err := r.decode(kv.Value, kv.ModRevision)
			if err != nil {
				s.log.Error("undecodable object in etcd, skipping", "key", string(kv.Key), "err", err)
				continue
			}
			r.cache.load(string(kv.Key)[len(r.prefix):], obj, kv.ModRevision)
		}
		if !page.More || len(page.Kvs) == 0 {
			break
		}
		key = string(page.Kvs[len(page.Kvs)-1].Key) + "\x00"
	}
	s.mu.RLock()
	for _, r := range s.resources {
		r.cache.startHistory(rev, s.opts.HistoryWindow)
	}
	s.mu.RUnlock()
	s.rv.Store(rev)

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	s.stopWatch = cancel
	wch := s.client.Watch(wctx, Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	go s.follow(wctx, wch)
	go s.tick(wctx)
	close(s.ready)
	return nil
}

// Stop ends the etcd watch and every cache watcher.
func (s *Store) Stop() {
	if s.stopWatch != nil {
		s.stopWatch()
		<-s.done
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.resources {
		r.cache.closeAll()
	}
}

func (s *Store) resourceFor(key string) *Resource {
	// "/registry/<group>/<resource>/..." -> prefix up to the third slash after /registry/.
	rest := key[len(Prefix):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return nil
	}
	j := strings.IndexByte(rest[i+1:], '/')
	if j < 0 {
		return nil
	}
	prefix := key[:len(Prefix)+i+1+j+1]
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.resources[prefix]
}

// follow applies etcd's events to the caches, in revision order.
func (s *Store) follow(ctx context.Context, wch clientv3.WatchChan) {
	defer close(s.done)
	for resp := range wch {
		if err := resp.Err(); err != nil {
			if ctx.Err() != nil {
				return
			}
			// A compaction past our position or a lost stream cannot be repaired in place: the
			// caches would miss events. Stop serving from them rather than serve stale state.
			s.log.Error("etcd watch failed; the API server must restart", "err", err)
			panic(fmt.Sprintf("storage: etcd watch failed: %v", err))
		}
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			r := s.resourceFor(key)
			if r == nil {
				continue
			}
			name := key[len(r.prefix):]
			switch ev.Type {
			case mvccpb.PUT:
				obj, err := r.decode(ev.Kv.Value, ev.Kv.ModRevision)
				if err != nil {
					s.log.Error("undecodable object in etcd, skipping", "key", key, "err", err)
					continue
				}
				r.cache.put(name, obj, ev.Kv.ModRevision)
			case mvccpb.DELETE:
				r.cache.remove(name, ev.Kv.ModRevision)
			}
		}
		rev := resp.Header.Revision
		if n := len(resp.Events); n > 0 && resp.Events[n-1].Kv.ModRevision > rev {
			rev = resp.Events[n-1].Kv.ModRevision
		}
		s.advance(rev)
	}
}

// tick asks etcd for progress notifications so that the caches' revision follows etcd's even while
// nothing under /registry/ changes, and sends bookmarks.
func (s *Store) tick(ctx context.Context) {
	t := time.NewTicker(s.opts.BookmarkInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.RLock()
			for _, r := range s.resources {
				r.cache.bookmark(s.rv.Load())
			}
			s.mu.RUnlock()
		}
	}
}

func (s *Store) advance(rev int64) {
	s.rvMu.Lock()
	if rev > s.rv.Load() {
		s.mu.RLock()
		for _, r := range s.resources {
			r.cache.progress(rev)
		}
		s.mu.RUnlock()
		s.rv.Store(rev)
		close(s.rvSignal)
		s.rvSignal = make(chan struct{})
	}
	s.rvMu.Unlock()
}

// waitFor blocks until the caches have applied every event up to rev.
func (s *Store) waitFor(ctx context.Context, rev int64) error {
	asked := false
	deadline := time.NewTimer(3 * time.Second)
	defer deadline.Stop()
	for {
		s.rvMu.Lock()
		cur, sig := s.rv.Load(), s.rvSignal
		s.rvMu.Unlock()
		if cur >= rev {
			return nil
		}
		if !asked {
			// Writes outside /registry/ (none today) or a quiet watch stream: ask etcd to tell us
			// where it is, so the wait ends even if no event arrives.
			_ = s.client.RequestProgress(clientv3.WithRequireLeader(context.Background()))
			asked = true
		}
		select {
		case <-sig:
		case <-time.After(50 * time.Millisecond):
			asked = false
		case <-deadline.C:
			return ErrTooLargeRV
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// currentRevision asks etcd for its current revision with a linearizable read.
func (s *Store) currentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, Prefix, clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// Revision returns the newest revision the caches have applied.
func (s *Store) Revision() int64 { return s.rv.Load() }

// Resource is the store of one resource.
type Resource struct {
	store   *Store
	prefix  string
	gvk     schema.GroupVersionKind
	newFunc func() runtime.Object
	cache   *cache
}

// Key returns the storage key of an object; namespace is empty for cluster-scoped resources.
func (r *Resource) Key(namespace, name string) string {
	if namespace == "" {
		return r.prefix + name
	}
	return r.prefix + namespace + "/" + name
}

func (r *Resource) relative(key string) string { return strings.TrimPrefix(key, r.prefix) }

func (r *Resource) decode(data []byte, rev int64) (runtime.Object, error) {
	obj, _, err := scheme.Protobuf.Decode(data, nil, r.newFunc())
	if err != nil {
		return nil, err
	}
	obj.GetObjectKind().SetGroupVersionKind(r.gvk)
	if acc, err := meta.Accessor(obj); err == nil {
		acc.SetResourceVersion(fmt.Sprint(rev))
	}
	return obj, nil
}

func (r *Resource) encode(obj runtime.Object) ([]byte, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	// The revision is the object's version; storing it would make every write differ from its
	// predecessor and defeat the no-op detection.
	rv := acc.GetResourceVersion()
	acc.SetResourceVersion("")
	obj.GetObjectKind().SetGroupVersionKind(r.gvk)
	var buf bytes.Buffer
	err = scheme.Protobuf.Encode(obj, &buf)
	acc.SetResourceVersion(rv)
	return buf.Bytes(), err
}

func mapEtcdError(err error) error {
	if err == nil {
		return nil
	}
	if err == rpctypes.ErrRequestTooLarge || strings.Contains(err.Error(), "request is too large") {
		return ErrTooLarge
	}
	if err == rpctypes.ErrCompacted || strings.Contains(err.Error(), "required revision has been compacted") {
		return ErrCompacted
	}
	if err == rpctypes.ErrFutureRev {
		return ErrTooLargeRV
	}
	return err
}
