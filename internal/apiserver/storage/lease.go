package storage

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseManager hands out etcd leases for objects with a time to live (Events). Granting a lease per
// object would double the writes of an event burst, so objects created within the same window share
// one lease, granted a little longer than asked so none of them expires early.
type leaseManager struct {
	client *clientv3.Client
	mu     sync.Mutex
	id     clientv3.LeaseID
	ttl    int64
	expiry time.Time // when the current lease stops being reused
}

// leaseReuseWindow bounds how much longer than asked an object may live.
const leaseReuseWindow = 60 * time.Second

func newLeaseManager(c *clientv3.Client) *leaseManager { return &leaseManager{client: c} }

func (m *leaseManager) get(ctx context.Context, ttl int64) (clientv3.LeaseID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if m.id != 0 && m.ttl == ttl && now.Before(m.expiry) {
		return m.id, nil
	}
	window := leaseReuseWindow
	if w := time.Duration(ttl) * time.Second / 10; w < window {
		window = w
	}
	resp, err := m.client.Grant(ctx, ttl+int64(window/time.Second))
	if err != nil {
		return 0, mapEtcdError(err)
	}
	m.id, m.ttl, m.expiry = resp.ID, ttl, now.Add(window)
	return m.id, nil
}
