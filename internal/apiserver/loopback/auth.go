package loopback

import (
	"context"
	"net/http"
	"slices"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

// callerKey is unexported so that only Transport can put a caller into a request's context: a
// request off the network gets its context from the HTTP server, which never holds it.
type callerKey struct{}

func withCaller(ctx context.Context, u admission.UserInfo) context.Context {
	return context.WithValue(ctx, callerKey{}, u)
}

// CallerFrom returns the user an in-process Transport made ctx's request as.
func CallerFrom(ctx context.Context) (admission.UserInfo, bool) {
	u, ok := ctx.Value(callerKey{}).(admission.UserInfo)
	return u, ok
}

// authenticatedGroup is the group every authenticated user is in, as the certificate
// authenticator adds it.
const authenticatedGroup = "system:authenticated"

// Authenticator authenticates requests made through a Transport of this process as the
// Transport's User (plus system:authenticated, as a client certificate would). Anything else is
// left to the next authenticator (ok false). A request that came over TLS is never taken for an
// in-process one, whatever its context holds: only the network listener speaks TLS.
type Authenticator struct{}

// Authenticate implements auth.Authenticator.
func (Authenticator) Authenticate(r *http.Request) (admission.UserInfo, bool, error) {
	if r.TLS != nil {
		return admission.UserInfo{}, false, nil
	}
	u, ok := CallerFrom(r.Context())
	if !ok || u.Name == "" {
		return admission.UserInfo{}, false, nil
	}
	if !slices.Contains(u.Groups, authenticatedGroup) {
		u.Groups = append(slices.Clip(u.Groups), authenticatedGroup)
	}
	return u, true, nil
}
