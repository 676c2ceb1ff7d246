package auth

import (
	"context"
	"crypto/x509"
	"net/http"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

// Authenticator identifies the caller of a request. ok is false when the request carries no
// credentials this authenticator understands.
type Authenticator interface {
	Authenticate(r *http.Request) (user admission.UserInfo, ok bool, err error)
}

// ClientCertAuthenticator accepts TLS client certificates verified against the cluster CA: the
// common name is the user, the organizations its groups.
type ClientCertAuthenticator struct {
	Roots *x509.CertPool
}

// Authenticate implements Authenticator.
func (a ClientCertAuthenticator) Authenticate(r *http.Request) (admission.UserInfo, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return admission.UserInfo{}, false, nil
	}
	certs := r.TLS.PeerCertificates
	opts := x509.VerifyOptions{
		Roots:         a.Roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return admission.UserInfo{}, false, err
	}
	groups := append([]string{}, certs[0].Subject.Organization...)
	groups = append(groups, "system:authenticated")
	return admission.UserInfo{Name: certs[0].Subject.CommonName, Groups: groups}, true, nil
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
