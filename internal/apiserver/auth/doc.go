// Package auth owns who may call the API server: authenticators turn a request into a user,
// authorizers decide whether that user may do what the request asks. Today requests are
// authenticated by client certificates signed by the cluster CA (or, for the server's own
// components, by apiserver/loopback's in-process caller, chained through Union) and every
// authenticated user is allowed; tokens and RBAC slot in here behind the same interfaces.
//
// It must never look at request bodies or storage beyond what a decision needs.
package auth
