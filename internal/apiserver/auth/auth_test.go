package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/pki"
)

func TestClientCertAuthenticator(t *testing.T) {
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	good, err := ca.Issue(pki.CertSpec{CommonName: "alice", Organizations: []string{"devs"}, Usage: pki.ClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := other.Issue(pki.CertSpec{CommonName: "mallory", Usage: pki.ClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Issue(pki.CertSpec{CommonName: "server", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.ServerAuth})
	if err != nil {
		t.Fatal(err)
	}
	a := NewClientCertAuthenticator(ca.Pool())
	req := func(certs ...*x509.Certificate) *http.Request {
		r, _ := http.NewRequest("GET", "/", nil)
		if certs != nil {
			r.TLS = &tls.ConnectionState{PeerCertificates: certs}
		}
		return r
	}
	for i := 0; i < 2; i++ { // the second round is served from the cache
		u, ok, err := a.Authenticate(req(good.Cert))
		if err != nil || !ok || u.Name != "alice" || len(u.Groups) != 2 || u.Groups[0] != "devs" || u.Groups[1] != "system:authenticated" {
			t.Fatalf("round %d: good cert: %+v %v %v", i, u, ok, err)
		}
		if _, ok, err := a.Authenticate(req(bad.Cert)); ok || err == nil {
			t.Fatalf("round %d: cert of another CA accepted", i)
		}
		if _, ok, err := a.Authenticate(req(serving.Cert)); ok || err == nil {
			t.Fatalf("round %d: serving-only cert accepted as a client cert", i)
		}
		if _, ok, err := a.Authenticate(req()); ok || err != nil {
			t.Fatalf("round %d: request without a cert: %v %v", i, ok, err)
		}
	}
}

type fixedAuthenticator struct {
	name string
	ok   bool
	err  error
}

func (f fixedAuthenticator) Authenticate(*http.Request) (admission.UserInfo, bool, error) {
	if !f.ok {
		return admission.UserInfo{}, false, f.err
	}
	return admission.UserInfo{Name: f.name}, true, nil
}

func TestUnion(t *testing.T) {
	bad := errors.New("bad certificate")
	tests := []struct {
		name     string
		union    Union
		wantUser string
		wantErr  error
	}{
		{name: "first recognizing wins", union: Union{fixedAuthenticator{}, fixedAuthenticator{name: "a", ok: true}, fixedAuthenticator{name: "b", ok: true}}, wantUser: "a"},
		{name: "an error does not hide a later success", union: Union{fixedAuthenticator{err: bad}, fixedAuthenticator{name: "b", ok: true}}, wantUser: "b"},
		{name: "error when none recognizes", union: Union{fixedAuthenticator{}, fixedAuthenticator{err: bad}}, wantErr: bad},
		{name: "nobody", union: Union{fixedAuthenticator{}}},
		{name: "empty", union: Union{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			u, ok, err := tt.union.Authenticate(r)
			if u.Name != tt.wantUser || ok != (tt.wantUser != "") || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got %+v %v %v, want user %q err %v", u, ok, err, tt.wantUser, tt.wantErr)
			}
		})
	}
}
