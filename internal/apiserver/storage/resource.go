package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ReadOptions say how fresh a read must be, with the API's resourceVersion semantics.
type ReadOptions struct {
	// RV is the resourceVersion parameter as sent: "" (most recent, consistent), "0" (any), or a
	// revision.
	RV      string
	RVMatch metav1.ResourceVersionMatch
}

func parseRV(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%w: %q", ErrInvalidRV, s)
	}
	return v, nil
}

// Get reads one object. The result may be shared with the cache: do not modify it.
func (r *Resource) Get(ctx context.Context, key string, opts ReadOptions) (runtime.Object, error) {
	rv, err := parseRV(opts.RV)
	if err != nil {
		return nil, err
	}
	if opts.RV == "" || opts.RVMatch == metav1.ResourceVersionMatchExact {
		var ops []clientv3.OpOption
		if opts.RVMatch == metav1.ResourceVersionMatchExact {
			ops = append(ops, clientv3.WithRev(rv))
		}
		resp, err := r.store.client.Get(ctx, key, ops...)
		if err != nil {
			return nil, mapEtcdError(err)
		}
		if len(resp.Kvs) == 0 {
			return nil, ErrNotFound
		}
		return r.decode(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
	}
	if rv > 0 {
		if err := r.store.waitFor(ctx, rv); err != nil {
			return nil, err
		}
	}
	it, _ := r.cache.get(r.relative(key))
	if it == nil {
		return nil, ErrNotFound
	}
	return it.Object, nil
}

// ListOptions select and page a list.
type ListOptions struct {
	ReadOptions
	Namespace string
	Limit     int64
	Continue  string
	// Filter is the label/field selector; nil matches everything. With a filter no remaining count
	// is reported, as upstream.
	Filter func(obj runtime.Object) bool
}

// ListResult is a page of a list.
type ListResult struct {
	Items     []*Item
	RV        int64
	Continue  string
	Remaining *int64
}

type continueToken struct {
	APIVersion string `json:"v"`
	RV         int64  `json:"rv"`
	Start      string `json:"start"`
}

func encodeContinue(rv int64, start string) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", RV: rv, Start: start})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil || t.APIVersion != "meta.k8s.io/v1" || t.RV <= 0 {
		return t, ErrInvalidContinue
	}
	return t, nil
}

// List returns the objects of the resource (in one namespace, or all), in key order.
func (r *Resource) List(ctx context.Context, opts ListOptions) (*ListResult, error) {
	prefix := ""
	if opts.Namespace != "" {
		prefix = opts.Namespace + "/"
	}
	if opts.Continue != "" {
		tok, err := decodeContinue(opts.Continue)
		if err != nil {
			return nil, err
		}
		return r.listEtcd(ctx, prefix, tok.Start, tok.RV, opts)
	}
	rv, err := parseRV(opts.RV)
	if err != nil {
		return nil, err
	}
	exact := opts.RVMatch == metav1.ResourceVersionMatchExact ||
		(opts.RVMatch == "" && opts.Limit > 0 && rv > 0)
	if exact {
		return r.listEtcd(ctx, prefix, "", rv, opts)
	}
	switch {
	case opts.RV == "":
		cur, err := r.store.currentRevision(ctx)
		if err != nil {
			return nil, mapEtcdError(err)
		}
		if err := r.store.waitFor(ctx, cur); err != nil {
			return nil, err
		}
	case rv > 0:
		if err := r.store.waitFor(ctx, rv); err != nil {
			return nil, err
		}
	}
	items, at := r.cache.snapshot(prefix)
	res := &ListResult{RV: at}
	if opts.Filter != nil {
		kept := items[:0:0]
		for _, it := range items {
			if opts.Filter(it.Object) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	// resourceVersion=0 means "any version, from the cache": upstream ignores the limit there.
	if opts.Limit > 0 && opts.RV != "0" && int64(len(items)) > opts.Limit {
		rest := int64(len(items)) - opts.Limit
		items = items[:opts.Limit]
		res.Continue = encodeContinue(at, items[len(items)-1].Key+"\x00")
		if opts.Filter == nil {
			res.Remaining = &rest
		}
	}
	res.Items = items
	return res, nil
}

// listEtcd pages through etcd at revision rev (0: current), from the relative key start.
func (r *Resource) listEtcd(ctx context.Context, prefix, start string, rev int64, opts ListOptions) (*ListResult, error) {
	from := r.prefix + prefix
	if start != "" {
		from = r.prefix + start
	}
	end := clientv3.GetPrefixRangeEnd(r.prefix + prefix)
	res := &ListResult{}
	var total int64
	for {
		ops := []clientv3.OpOption{clientv3.WithRange(end)}
		if rev > 0 {
			ops = append(ops, clientv3.WithRev(rev))
		}
		want := opts.Limit - int64(len(res.Items))
		if opts.Limit > 0 {
			ops = append(ops, clientv3.WithLimit(max(want, 64)))
		}
		resp, err := r.store.client.Get(ctx, from, ops...)
		if err != nil {
			return nil, mapEtcdError(err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		if total == 0 {
			total = resp.Count
		}
		for i, kv := range resp.Kvs {
			obj, err := r.decode(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, err
			}
			if opts.Filter != nil && !opts.Filter(obj) {
				continue
			}
			res.Items = append(res.Items, &Item{Key: r.relative(string(kv.Key)), Object: obj, RV: kv.ModRevision})
			if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
				if i < len(resp.Kvs)-1 || resp.More {
					res.Continue = encodeContinue(rev, r.relative(string(kv.Key))+"\x00")
					if opts.Filter == nil {
						rest := resp.Count - int64(i) - 1
						res.Remaining = &rest
					}
				}
				res.RV = rev
				return res, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	res.RV = rev
	return res, nil
}

// Create stores a new object at key. ttl > 0 makes etcd expire it after that many seconds.
// The returned object is obj with its resourceVersion set.
func (r *Resource) Create(ctx context.Context, key string, obj runtime.Object, ttl int64) (runtime.Object, error) {
	data, err := r.encode(obj)
	if err != nil {
		return nil, err
	}
	var putOps []clientv3.OpOption
	if ttl > 0 {
		id, err := r.store.leases.get(ctx, ttl)
		if err != nil {
			return nil, err
		}
		putOps = append(putOps, clientv3.WithLease(id))
	}
	resp, err := r.store.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data), putOps...)).
		Commit()
	if err != nil {
		return nil, mapEtcdError(err)
	}
	if !resp.Succeeded {
		return nil, ErrAlreadyExists
	}
	setRV(obj, resp.Header.Revision)
	return obj, nil
}

// UpdateFunc computes the new state from the current one. cur is a private copy the function may
// modify; it is nil when the object does not exist (return an error unless creating is allowed).
// Returning ttl > 0 stores the object with that time to live.
type UpdateFunc func(cur runtime.Object) (obj runtime.Object, ttl int64, err error)

// GuaranteedUpdate applies update to the current object and writes the result if the object did
// not change in between, retrying on concurrent writes. When the result encodes exactly as what is
// stored, nothing is written and the stored object is returned (a no-op keeps its resourceVersion).
//
// The first attempt starts from the watch cache's copy rather than a read from etcd: the write's
// compare-and-swap on the revision catches a stale copy, and only then is etcd read. An attempt
// that fails or changes nothing on a cached copy is repeated on etcd's state before its outcome
// is reported, since a stale copy could explain either.
func (r *Resource) GuaranteedUpdate(ctx context.Context, key string, update UpdateFunc) (runtime.Object, error) {
	var curData []byte
	var curRev int64
	var cached runtime.Object // the cache's object curData encodes, until etcd has been read
	if it, _ := r.cache.get(r.relative(key)); it != nil {
		data, err := r.encode(it.Object.DeepCopyObject())
		if err == nil {
			curData, curRev, cached = data, it.RV, it.Object
		}
	}
	if cached == nil {
		if err := r.readCurrent(ctx, key, &curData, &curRev); err != nil {
			return nil, err
		}
	}
	for {
		var cur runtime.Object
		var err error
		switch {
		case cached != nil:
			cur = cached.DeepCopyObject()
		case curData != nil:
			if cur, err = r.decode(curData, curRev); err != nil {
				return nil, err
			}
		}
		fromCache := cached != nil
		cached = nil
		obj, ttl, err := update(cur)
		if err != nil {
			if fromCache {
				if changed, rerr := r.refresh(ctx, key, &curData, &curRev); rerr != nil {
					return nil, rerr
				} else if changed {
					continue
				}
			}
			return nil, err
		}
		data, err := r.encode(obj)
		if err != nil {
			return nil, err
		}
		if curData != nil && bytes.Equal(data, curData) {
			if fromCache {
				if changed, rerr := r.refresh(ctx, key, &curData, &curRev); rerr != nil {
					return nil, rerr
				} else if changed {
					continue
				}
			}
			return cur, nil
		}
		var cmp clientv3.Cmp
		if curData == nil {
			cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		} else {
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", curRev)
		}
		var putOps []clientv3.OpOption
		if ttl > 0 {
			id, err := r.store.leases.get(ctx, ttl)
			if err != nil {
				return nil, err
			}
			putOps = append(putOps, clientv3.WithLease(id))
		}
		tresp, err := r.store.client.Txn(ctx).If(cmp).
			Then(clientv3.OpPut(key, string(data), putOps...)).
			Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return nil, mapEtcdError(err)
		}
		if tresp.Succeeded {
			setRV(obj, tresp.Header.Revision)
			return obj, nil
		}
		// Someone wrote in between (or the cached copy was stale): retry on what is there now.
		got := tresp.Responses[0].GetResponseRange()
		if len(got.Kvs) == 0 {
			curData, curRev = nil, 0
		} else {
			curData, curRev = got.Kvs[0].Value, got.Kvs[0].ModRevision
		}
	}
}

// readCurrent reads key's stored encoding and revision from etcd (nil, 0 when absent).
func (r *Resource) readCurrent(ctx context.Context, key string, data *[]byte, rev *int64) error {
	resp, err := r.store.client.Get(ctx, key)
	if err != nil {
		return mapEtcdError(err)
	}
	*data, *rev = nil, 0
	if len(resp.Kvs) > 0 {
		*data, *rev = resp.Kvs[0].Value, resp.Kvs[0].ModRevision
	}
	return nil
}

// refresh replaces a cached state with etcd's and says whether it differed.
func (r *Resource) refresh(ctx context.Context, key string, data *[]byte, rev *int64) (bool, error) {
	old := *rev
	if err := r.readCurrent(ctx, key, data, rev); err != nil {
		return false, err
	}
	return *rev != old, nil
}

// Delete removes the object at key once check accepts the current state (preconditions,
// finalizers); check may be nil. It returns the object as it was.
func (r *Resource) Delete(ctx context.Context, key string, check func(cur runtime.Object) error) (runtime.Object, error) {
	resp, err := r.store.client.Get(ctx, key)
	if err != nil {
		return nil, mapEtcdError(err)
	}
	for {
		if len(resp.Kvs) == 0 {
			return nil, ErrNotFound
		}
		kv := resp.Kvs[0]
		cur, err := r.decode(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(cur); err != nil {
				return nil, err
			}
		}
		tresp, err := r.store.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(key)).
			Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return nil, mapEtcdError(err)
		}
		if tresp.Succeeded {
			return cur, nil
		}
		resp = (*clientv3.GetResponse)(tresp.Responses[0].GetResponseRange())
	}
}

func setRV(obj runtime.Object, rev int64) {
	if acc, ok := obj.(metav1.ObjectMetaAccessor); ok {
		acc.GetObjectMeta().SetResourceVersion(strconv.FormatInt(rev, 10))
	}
}
