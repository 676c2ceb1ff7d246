package auth

import (
	"context"
	"crypto/x509"
	"net/http"
	"sync"
	"time"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

// Authenticator identifies the caller of a request. ok is false when the request carries no
// credentials this authenticator understands.
type Authenticator interface {
	Authenticate(r *http.Request) (user admission.UserInfo, ok bool, err error)
}

// Union asks each authenticator in turn; the first that recognizes the request decides. An
// authenticator that fails does not stop the others (a bad certificate does not hide a valid
// in-process caller); its error is returned when none recognized the request.
type Union []Authenticator

// Authenticate implements Authenticator.
func (u Union) Authenticate(r *http.Request) (admission.UserInfo, bool, error) {
	var firstErr error
	for _, a := range u {
		user, ok, err := a.Authenticate(r)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if ok {
			return user, true, nil
		}
	}
	return admission.UserInfo{}, false, firstErr
}

// ClientCertAuthenticator accepts TLS client certificates verified against the cluster CA: the
// common name is the user, the organizations its groups. A leaf once verified is remembered until
// it expires: verifying an ECDSA signature costs more than serving a typical request. The leaf's
// own bytes are the key (the client proved it holds the leaf's key in the handshake, and a leaf
// that chained to the roots once still does, whatever intermediates come with it later): hashing
// them in a map lookup is cheaper than a digest of the chain on every request.
type ClientCertAuthenticator struct {
	Roots *x509.CertPool

	mu       sync.Mutex
	verified map[string]verifiedCert
}

type verifiedCert struct {
	user     admission.UserInfo
	notAfter time.Time
}

// maxVerifiedCerts bounds the cache; past it the cache starts over (clients are few, certs fewer).
const maxVerifiedCerts = 4096

// NewClientCertAuthenticator returns an authenticator trusting roots.
func NewClientCertAuthenticator(roots *x509.CertPool) *ClientCertAuthenticator {
	return &ClientCertAuthenticator{Roots: roots, verified: map[string]verifiedCert{}}
}

// Authenticate implements Authenticator.
func (a *ClientCertAuthenticator) Authenticate(r *http.Request) (admission.UserInfo, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return admission.UserInfo{}, false, nil
	}
	certs := r.TLS.PeerCertificates
	now := time.Now()
	a.mu.Lock()
	if v, ok := a.verified[string(certs[0].Raw)]; ok && now.Before(v.notAfter) {
		a.mu.Unlock()
		return v.user, true, nil
	}
	a.mu.Unlock()
	user, err := a.verify(certs)
	if err != nil {
		return admission.UserInfo{}, false, err
	}
	a.mu.Lock()
	if a.verified == nil || len(a.verified) >= maxVerifiedCerts {
		a.verified = map[string]verifiedCert{}
	}
	a.verified[string(certs[0].Raw)] = verifiedCert{user: user, notAfter: certs[0].NotAfter}
	a.mu.Unlock()
	return user, true, nil
}

func (a *ClientCertAuthenticator) verify(certs []*x509.Certificate) (admission.UserInfo, error) {
	opts := x509.VerifyOptions{
		Roots:         a.Roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return admission.UserInfo{}, err
	}
	groups := append([]string{}, certs[0].Subject.Organization...)
	groups = append(groups, "system:authenticated")
	return admission.UserInfo{Name: certs[0].Subject.CommonName, Groups: groups}, nil
}

// Attributes are what an authorizer decides on.
type Attributes struct {
	User        admission.UserInfo
	Verb        string
	Namespace   string
	APIGroup    string
	Resource    string
	Subresource string
	Name        string
	// Path is set for non-resource requests (/healthz, /version, ...).
	Path string
}

// Authorizer decides whether a request may proceed.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (allowed bool, reason string, err error)
}

// AllowAuthenticated lets every authenticated user do everything; RBAC replaces it.
type AllowAuthenticated struct{}

// Authorize implements Authorizer.
func (AllowAuthenticated) Authorize(context.Context, Attributes) (bool, string, error) {
	return true, "", nil
}

type userKey struct{}

// WithUser stores the authenticated user in ctx.
func WithUser(ctx context.Context, u admission.UserInfo) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the authenticated user of ctx.
func UserFrom(ctx context.Context) (admission.UserInfo, bool) {
	u, ok := ctx.Value(userKey{}).(admission.UserInfo)
	return u, ok
}
