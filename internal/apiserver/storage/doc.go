// Package storage is the API server's versioned object store on etcd. Objects live under
// /registry/<group>/<resource>/[<namespace>/]<name>, encoded as protobuf; an object's resourceVersion
// is the etcd revision that last modified it, so optimistic concurrency is an etcd compare-and-swap.
//
// One etcd watch over the whole /registry/ prefix feeds a watch cache per resource: the current
// objects (decoded once, with their encodings memoised while in use) and a window of recent events. Lists and
// watches are served from that cache; a consistent list first waits until the cache has caught up
// with etcd's current revision, so a client reads its own writes. Gets and writes go to etcd.
//
// The store knows nothing of HTTP, validation or API semantics beyond resourceVersions: objects it
// returns from the cache are shared and must never be modified by callers (DeepCopy first).
package storage
