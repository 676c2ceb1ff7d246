package allocator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
)

// Errors of a range, matched with errors.Is. Their texts are upstream's, which clients and
// scripts quote.
var (
	ErrFull       = errors.New("range is full")
	ErrAllocated  = errors.New("already allocated")
	ErrNotInRange = errors.New("not in the valid range")
)

// offsetError says which requested offset could not be had.
type offsetError struct {
	index int // position in the request's specific list
	err   error
}

func (e *offsetError) Error() string { return fmt.Sprintf("offset #%d: %v", e.index, e.err) }
func (e *offsetError) Unwrap() error { return e.err }

// Range is one allocation bitmap kept in one etcd key. Every change is a compare-and-swap on the
// key's mod revision, so API servers sharing the etcd never hand out an offset twice. Within one
// process changes are serialised and start from the last value this process wrote or read, so
// they normally need one round trip; a conflict (another server wrote) re-reads in the same
// transaction and retries.
type Range struct {
	client *clientv3.Client
	key    string
	size   int
	// desc identifies the configured range (a CIDR, a port range); a stored value made for
	// another range is not reused.
	desc string
	// min and split tell Pick where dynamic allocation may draw from and which band it prefers.
	min, split int
	log        *slog.Logger

	mu  sync.Mutex
	cur *Bitmap // nil until loaded
	rev int64   // mod revision of the key behind cur; 0 when the key does not exist
	rnd *rand.Rand
}

func newRange(client *clientv3.Client, key, desc string, size, min, split int, log *slog.Logger) *Range {
	return &Range{client: client, key: key, desc: desc, size: size, min: min, split: split, log: log,
		rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// decode turns the stored value into a bitmap. A value for another range (the flag changed
// between starts) yields an empty bitmap: repair then rebuilds it from the Services.
func (r *Range) decode(value []byte) (*Bitmap, error) {
	if value == nil {
		return NewBitmap(r.size), nil
	}
	var ra corev1.RangeAllocation
	if err := ra.Unmarshal(value); err != nil {
		return nil, fmt.Errorf("%s: %w", r.key, err)
	}
	if ra.Range != r.desc {
		r.log.Warn("stored allocation is for another range; starting from the Services alone",
			"key", r.key, "stored", ra.Range, "configured", r.desc)
		return NewBitmap(r.size), nil
	}
	b, err := UnmarshalBitmap(r.size, ra.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.key, err)
	}
	return b, nil
}

func (r *Range) encode(b *Bitmap) ([]byte, error) {
	ra := corev1.RangeAllocation{Range: r.desc, Data: b.Marshal()}
	return ra.Marshal()
}

// refresh reads the key. Caller holds mu.
func (r *Range) refresh(ctx context.Context) error {
	resp, err := r.client.Get(ctx, r.key)
	if err != nil {
		return err
	}
	return r.take(resp.Kvs)
}

// take installs a read of the key (empty: it does not exist). Caller holds mu.
func (r *Range) take(kvs []*mvccpb.KeyValue) error {
	var value []byte
	var rev int64
	if len(kvs) > 0 {
		value, rev = kvs[0].Value, kvs[0].ModRevision
	}
	b, err := r.decode(value)
	if err != nil {
		return err
	}
	r.cur, r.rev = b, rev
	return nil
}

// update applies change to a copy of the current bitmap and stores the result with a
// compare-and-swap, retrying on conflict. change may run more than once and must depend only on
// the bitmap it is given; an error from it aborts without writing. Caller must not hold mu.
func (r *Range) update(ctx context.Context, change func(b *Bitmap) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		if err := r.refresh(ctx); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		next := r.cur.Clone()
		if err := change(next); err != nil {
			return err
		}
		if next.Equal(r.cur) && r.rev != 0 {
			return nil
		}
		value, err := r.encode(next)
		if err != nil {
			return err
		}
		resp, err := r.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(r.key), "=", r.rev)).
			Then(clientv3.OpPut(r.key, string(value))).
			Else(clientv3.OpGet(r.key)).
			Commit()
		if err != nil {
			// The write may or may not have happened: forget what we believe.
			r.cur = nil
			return err
		}
		if resp.Succeeded {
			r.cur, r.rev = next, resp.Header.Revision
			return nil
		}
		if err := r.take(resp.Responses[0].GetResponseRange().Kvs); err != nil {
			r.cur = nil
			return err
		}
		if attempt > 0 && attempt%100 == 0 {
			r.log.Warn("allocation keeps conflicting with other writers", "key", r.key, "attempts", attempt)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Allocate reserves the specific offsets and n more drawn at random, all or nothing, and returns
// the drawn ones. A specific offset that cannot be had fails the whole call with an error
// wrapping ErrAllocated or ErrNotInRange that tells its index (see failedIndex).
func (r *Range) Allocate(ctx context.Context, specific []int, n int) ([]int, error) {
	var drawn []int
	err := r.update(ctx, func(b *Bitmap) error {
		var err error
		drawn, err = r.reserve(b, specific, n)
		return err
	})
	if err != nil {
		return nil, err
	}
	return drawn, nil
}

// Check answers what Allocate would, from a fresh read, reserving nothing (dry run).
func (r *Range) Check(ctx context.Context, specific []int, n int) ([]int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.refresh(ctx); err != nil {
		r.cur = nil
		return nil, err
	}
	return r.reserve(r.cur.Clone(), specific, n)
}

// reserve marks specific and n random offsets in b. Caller holds mu (rnd is not shared-safe).
func (r *Range) reserve(b *Bitmap, specific []int, n int) ([]int, error) {
	for i, off := range specific {
		switch {
		case off < 0 || off >= r.size:
			return nil, &offsetError{i, ErrNotInRange}
		case !b.Set(off):
			return nil, &offsetError{i, ErrAllocated}
		}
	}
	drawn := make([]int, 0, n)
	for range n {
		off, ok := b.Pick(r.rnd, r.min, r.split)
		if !ok {
			return nil, ErrFull
		}
		b.Set(off)
		drawn = append(drawn, off)
	}
	return drawn, nil
}

// Release frees the offsets; freeing a free or out-of-range offset is not an error.
func (r *Range) Release(ctx context.Context, offsets []int) error {
	if len(offsets) == 0 {
		return nil
	}
	return r.update(ctx, func(b *Bitmap) error {
		for _, off := range offsets {
			b.Clear(off)
		}
		return nil
	})
}

// Snapshot returns a copy of the bitmap as stored now.
func (r *Range) Snapshot(ctx context.Context) (*Bitmap, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.refresh(ctx); err != nil {
		r.cur = nil
		return nil, err
	}
	return r.cur.Clone(), nil
}

// failedIndex returns the index of the specific offset an Allocate error is about, or -1.
func failedIndex(err error) int {
	var oe *offsetError
	if errors.As(err, &oe) {
		return oe.index
	}
	return -1
}
