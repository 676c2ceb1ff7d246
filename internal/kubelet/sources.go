package kubelet

import (
	"context"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// sourceTTL bounds how stale a ConfigMap or Secret the agent projects may be; upstream's
// default cache TTL for the same reads is a minute, but shorter keeps updates prompt.
const sourceTTL = 5 * time.Second

// apiSources reads ConfigMaps and Secrets with client-go gets, caching each object (and each
// NotFound) briefly so that a pod with many references costs one read per object.
type apiSources struct {
	client kubernetes.Interface
	clock  clock.Clock

	mu      sync.Mutex
	entries map[string]sourceEntry
}

type sourceEntry struct {
	obj     any
	err     error
	fetched time.Time
}

func newAPISources(c kubernetes.Interface, clk clock.Clock) *apiSources {
	return &apiSources{client: c, clock: clk, entries: map[string]sourceEntry{}}
}

func (s *apiSources) get(ctx context.Context, kind, ns, name string) (any, error) {
	key := kind + "/" + ns + "/" + name
	s.mu.Lock()
	e, ok := s.entries[key]
	s.mu.Unlock()
	if ok && s.clock.Since(e.fetched) < sourceTTL {
		return e.obj, e.err
	}
	var obj any
	var err error
	if kind == "configmap" {
		obj, err = s.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	} else {
		obj, err = s.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	}
	if ctx.Err() == nil {
		s.mu.Lock()
		s.entries[key] = sourceEntry{obj: obj, err: err, fetched: s.clock.Now()}
		s.mu.Unlock()
	}
	return obj, err
}

func (s *apiSources) GetConfigMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error) {
	o, err := s.get(ctx, "configmap", ns, name)
	if err != nil {
		return nil, err
	}
	return o.(*v1.ConfigMap), nil
}

func (s *apiSources) GetSecret(ctx context.Context, ns, name string) (*v1.Secret, error) {
	o, err := s.get(ctx, "secret", ns, name)
	if err != nil {
		return nil, err
	}
	return o.(*v1.Secret), nil
}

// configSources is apiSources as containerconfig asks (without a context).
type configSources struct {
	ctx context.Context
	s   *apiSources
}

func (c configSources) GetConfigMap(ns, name string) (*v1.ConfigMap, error) {
	return c.s.GetConfigMap(c.ctx, ns, name)
}

func (c configSources) GetSecret(ns, name string) (*v1.Secret, error) {
	return c.s.GetSecret(c.ctx, ns, name)
}

// forget drops cached entries: the pod that needed them changed.
func (s *apiSources) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.entries {
		if s.clock.Since(e.fetched) >= sourceTTL {
			delete(s.entries, k)
		}
	}
}
