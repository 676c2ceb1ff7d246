// Package etcd owns the lifecycle of the cluster's store: it starts an embedded etcd under
// <data-dir>/etcd when no servers are given, or connects to an external etcd cluster when they are,
// and hands back a ready client either way. The embedded server is tuned here, deliberately, for a
// single-member control plane that idles small: no peer listener, a unix socket for clients, a short
// in-memory raft log, no gRPC gateway.
//
// It must never interpret the keys it stores (that is the API server's storage layer), never compact
// (the API server does, on its own schedule) and never expose the embedded server beyond its client
// socket: other processes reach the cluster state only through the API server.
//
// Usage:
//
//	h, err := etcd.Start(ctx, etcd.Config{DataDir: dataDir})
//	if err != nil { ... }
//	defer h.Close()
//	kv := h.Client()
package etcd
