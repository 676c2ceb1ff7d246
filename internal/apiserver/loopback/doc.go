// Package loopback owns how components living in the API server's own process (the scheduler,
// the controller manager, the cluster DNS, the in-process node agent) reach it: Transport is an
// http.RoundTripper that serves each request by calling the server's http.Handler directly, with
// no TLS, no HTTP/2 framing and no socket, so that client-go, authentication, admission and watch
// streaming above it work unchanged. It also owns the proof of who such a caller is: a context
// value under a key only this package can set, which Authenticator turns into the user.
//
// It must never accept an identity from anything a remote client controls (headers, the URL, the
// peer address): only from the context its own Transport built. It must never serve protocol
// upgrades (exec, attach, port-forward): those need a connection, which an in-process call has not.
package loopback
