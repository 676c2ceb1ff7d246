package informershare

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Shared is one informer that several components read. It starts on the first view's run and
// stops when the context given to New ends.
type Shared struct {
	ctx   context.Context
	base  cache.SharedIndexInformer
	start sync.Once
}

// New shares base, which must not be run by anyone else; it runs until ctx ends.
func New(ctx context.Context, base cache.SharedIndexInformer) *Shared {
	return &Shared{ctx: ctx, base: base}
}

// Use makes factory hand out a view of the shared informer for objects of obj's type. It must be
// called before anything asks the factory for that type's informer, lister or handlers.
func (s *Shared) Use(factory informers.SharedInformerFactory, obj runtime.Object) {
	factory.InformerFor(obj, func(kubernetes.Interface, time.Duration) cache.SharedIndexInformer { return s.View() })
}

// View returns a view of the shared informer whose handlers last until its Run ends.
func (s *Shared) View() cache.SharedIndexInformer {
	return &view{SharedIndexInformer: s.base, shared: s}
}

func (s *Shared) run() {
	s.start.Do(func() { go s.base.RunWithContext(s.ctx) })
}

// view forwards everything to the shared informer except running it and what its handlers'
// lifetime needs.
type view struct {
	cache.SharedIndexInformer
	shared *Shared

	mu       sync.Mutex
	handlers []cache.ResourceEventHandlerRegistration
	done     bool
}

// errRunOver refuses a handler added through a view whose run has ended: nobody would remove it.
var errRunOver = errors.New("informershare: the view's run is over")

// add registers h through register unless the run is over, and remembers it for the run's end.
func (v *view) add(register func() (cache.ResourceEventHandlerRegistration, error)) (cache.ResourceEventHandlerRegistration, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.done {
		return nil, errRunOver
	}
	r, err := register()
	if err == nil {
		v.handlers = append(v.handlers, r)
	}
	return r, err
}

func (v *view) AddEventHandler(h cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	return v.add(func() (cache.ResourceEventHandlerRegistration, error) {
		return v.SharedIndexInformer.AddEventHandler(h)
	})
}

func (v *view) AddEventHandlerWithResyncPeriod(h cache.ResourceEventHandler, resync time.Duration) (cache.ResourceEventHandlerRegistration, error) {
	return v.add(func() (cache.ResourceEventHandlerRegistration, error) {
		return v.SharedIndexInformer.AddEventHandlerWithResyncPeriod(h, resync)
	})
}

func (v *view) AddEventHandlerWithOptions(h cache.ResourceEventHandler, o cache.HandlerOptions) (cache.ResourceEventHandlerRegistration, error) {
	return v.add(func() (cache.ResourceEventHandlerRegistration, error) {
		return v.SharedIndexInformer.AddEventHandlerWithOptions(h, o)
	})
}

func (v *view) RemoveEventHandler(r cache.ResourceEventHandlerRegistration) error {
	v.mu.Lock()
	for i, h := range v.handlers {
		if h == r {
			v.handlers = append(v.handlers[:i], v.handlers[i+1:]...)
			break
		}
	}
	v.mu.Unlock()
	return v.SharedIndexInformer.RemoveEventHandler(r)
}

// SetTransform is refused quietly: the shared informer's transform was chosen by its owner, and
// the factories that call this (with the same transform) ignore its error anyway.
func (v *view) SetTransform(cache.TransformFunc) error { return nil }

// SetWatchErrorHandler and its context form belong to the owner too.
func (v *view) SetWatchErrorHandler(cache.WatchErrorHandler) error { return nil }

func (v *view) SetWatchErrorHandlerWithContext(cache.WatchErrorHandlerWithContext) error { return nil }

func (v *view) Run(stopCh <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	v.RunWithContext(ctx)
}

// RunWithContext starts the shared informer if nobody has, and removes this view's handlers when
// ctx ends (or the shared informer stops).
func (v *view) RunWithContext(ctx context.Context) {
	v.shared.run()
	select {
	case <-ctx.Done():
	case <-v.shared.ctx.Done():
	}
	v.mu.Lock()
	handlers := v.handlers
	v.handlers, v.done = nil, true
	v.mu.Unlock()
	for _, h := range handlers {
		_ = v.SharedIndexInformer.RemoveEventHandler(h)
	}
}

// IsStopped reports the view's run over, as a factory expects of an informer it ran.
func (v *view) IsStopped() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.done || v.SharedIndexInformer.IsStopped()
}

// DropManagedFields is the transform of the informers of skiff's control plane, as upstream's
// scheduler and controller manager use: nothing they run reads managedFields, and they are a fifth
// of a cached pod.
func DropManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
