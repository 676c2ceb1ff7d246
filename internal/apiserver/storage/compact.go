package storage

import (
	"context"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// compactKey records the last compaction so that several API servers sharing one etcd compact once
// per interval between them, not once each.
const compactKey = "compact_rev_key"

// Compact runs until ctx is done: every interval it compacts etcd to the revision it saw one interval
// earlier, so history older than one to two intervals goes away (upstream keeps ~5 minutes). Watches
// and continue tokens older than that get 410 Gone.
func (s *Store) Compact(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var prevRev, prevVersion int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rev, version, err := s.compactOnce(ctx, prevRev, prevVersion)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("etcd compaction failed", "err", err)
			}
			continue
		}
		prevRev, prevVersion = rev, version
	}
}

// compactOnce takes the compaction "lock" (a compare-and-swap on compactKey's version) and, if it
// won, compacts to prevRev. It returns the current revision and the key's version for next time.
func (s *Store) compactOnce(ctx context.Context, prevRev, prevVersion int64) (int64, int64, error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(compactKey), "=", prevVersion)).
		Then(clientv3.OpPut(compactKey, strconv.FormatInt(prevRev, 10))).
		Else(clientv3.OpGet(compactKey)).Commit()
	if err != nil {
		return 0, 0, err
	}
	cur := resp.Header.Revision
	if !resp.Succeeded {
		// Another server compacted this interval: follow its count.
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return cur, 0, nil
		}
		return cur, kvs[0].Version, nil
	}
	if prevRev > 0 {
		if _, err := s.client.Compact(ctx, prevRev); err != nil {
			return cur, prevVersion + 1, mapEtcdError(err)
		}
		s.log.Debug("compacted etcd", "revision", prevRev)
	}
	return cur, prevVersion + 1, nil
}
