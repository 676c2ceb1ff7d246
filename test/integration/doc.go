// Package integration holds black-box tests of the API server: each starts a real server on
// embedded etcd (internal/testserver) and drives it only through its HTTP API, with client-go's
// typed, dynamic and metadata clients and informers, checking upstream Kubernetes' semantics down to
// status codes, reasons and field paths. It has no production code and must never reach into the
// server's packages to observe behaviour a client could not see; the only back door it uses is the
// etcd client, to compact history as an operator would.
package integration
