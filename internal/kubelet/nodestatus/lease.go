package nodestatus

import (
	"context"
	"log/slog"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

// Upstream's node lease controller retry policy: a failed renewal is retried a few times at once
// (a conflict re-reads the Lease first), and getting or creating the Lease backs off from 200 ms
// doubling up to 7 s, well inside the 40 s the Lease lasts.
const (
	leaseUpdateRetries  = 5
	leaseBackoffInitial = 200 * time.Millisecond
	leaseBackoffMax     = 7 * time.Second
)

// leaseRenewer keeps kube-node-lease/<node> fresh: the node's heartbeat, cheap enough to write
// every 10 s, which the node lifecycle controller reads instead of the Node's conditions.
type leaseRenewer struct {
	client   kubernetes.Interface
	name     string
	duration time.Duration
	clock    clock.Clock
	log      *slog.Logger
	// nodeUID returns the Node's UID, or "" while it is unknown (not registered yet).
	nodeUID func(ctx context.Context) types.UID

	latest *coordinationv1.Lease
}

func (l *leaseRenewer) leases() leaseClient {
	return l.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
}

type leaseClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error)
}

// fill renews lease in memory: holder, duration, renew time, and the owner reference to the Node
// (so that deleting the Node garbage-collects its Lease) once the Node's UID is known.
func (l *leaseRenewer) fill(ctx context.Context, lease *coordinationv1.Lease) {
	lease.Spec.HolderIdentity = ptr.To(l.name)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(l.duration / time.Second))
	lease.Spec.RenewTime = &metav1.MicroTime{Time: l.clock.Now()}
	if len(lease.OwnerReferences) == 0 {
		if uid := l.nodeUID(ctx); uid != "" {
			lease.OwnerReferences = []metav1.OwnerReference{{
				APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Node", Name: l.name, UID: uid,
			}}
		}
	}
}

// renew makes one renewal, with upstream's retries; it returns false only if ctx ended first.
func (l *leaseRenewer) renew(ctx context.Context) bool {
	if l.latest != nil {
		// The common case: one Update from the copy we wrote last, no read.
		lease := l.latest.DeepCopy()
		l.fill(ctx, lease)
		updated, err := l.leases().Update(ctx, lease, metav1.UpdateOptions{})
		if err == nil {
			l.latest = updated
			return true
		}
		l.log.Info("renewing node lease failed; re-reading it", "err", err)
	}
	lease, created, ok := l.ensure(ctx)
	if !ok {
		return false
	}
	if created {
		l.latest = lease
		return true
	}
	for i := 0; i < leaseUpdateRetries; i++ {
		next := lease.DeepCopy()
		l.fill(ctx, next)
		updated, err := l.leases().Update(ctx, next, metav1.UpdateOptions{})
		if err == nil {
			l.latest = updated
			return true
		}
		l.log.Warn("renewing node lease failed", "attempt", i+1, "err", err)
		if ctx.Err() != nil {
			return false
		}
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			if lease, created, ok = l.ensure(ctx); !ok {
				return false
			}
			if created {
				l.latest = lease
				return true
			}
		}
	}
	// Give up this round; the next tick starts over from a fresh read.
	l.latest = nil
	return true
}

// ensure gets the Lease, creating it when missing, retrying with backoff until it succeeds or ctx
// ends.
func (l *leaseRenewer) ensure(ctx context.Context) (lease *coordinationv1.Lease, created, ok bool) {
	backoff := leaseBackoffInitial
	for {
		lease, created, err := l.getOrCreate(ctx)
		if err == nil {
			return lease, created, true
		}
		l.log.Warn("getting or creating node lease failed", "err", err, "retryIn", backoff)
		select {
		case <-ctx.Done():
			return nil, false, false
		case <-l.clock.After(backoff):
		}
		backoff = min(2*backoff, leaseBackoffMax)
	}
}

func (l *leaseRenewer) getOrCreate(ctx context.Context) (*coordinationv1.Lease, bool, error) {
	lease, err := l.leases().Get(ctx, l.name, metav1.GetOptions{})
	if err == nil {
		return lease, false, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, false, err
	}
	lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: corev1.NamespaceNodeLease}}
	l.fill(ctx, lease)
	lease, err = l.leases().Create(ctx, lease, metav1.CreateOptions{})
	if err != nil {
		return nil, false, err
	}
	return lease, true, nil
}

// run renews the Lease every interval until ctx ends. The interval is measured from the end of
// one renewal to the start of the next, so a slow API server is not hammered with overlapping
// attempts.
func (l *leaseRenewer) run(ctx context.Context, interval time.Duration) {
	for {
		if !l.renew(ctx) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-l.clock.After(interval):
		}
	}
}
