package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/kubelet"
	"github.com/skiff-dev/skiff/internal/pki"
)

func TestAPITLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Issue(pki.CertSpec{CommonName: "system:node:n1", Usage: pki.ServerAuth, DNSNames: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key, caf := write("tls.crt", kp.CertPEM), write("tls.key", kp.KeyPEM), write("ca.crt", ca.CertPEM)
	notPEM := write("junk", []byte("not a certificate"))
	for _, tc := range []struct {
		name            string
		cert, key, ca   string
		wantOn          bool
		wantErrContains string
	}{
		{name: "off without files"},
		{name: "on with all three", cert: cert, key: key, ca: caf, wantOn: true},
		{name: "no client CA", cert: cert, key: key, wantErrContains: "go together"},
		{name: "only a CA", ca: caf, wantErrContains: "go together"},
		{name: "key is not the cert's", cert: cert, key: caf, ca: caf, wantErrContains: "certificate"},
		{name: "CA file without PEM", cert: cert, key: key, ca: notPEM, wantErrContains: "no PEM certificate"},
		{name: "missing CA file", cert: cert, key: key, ca: filepath.Join(dir, "nope"), wantErrContains: "--client-ca-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg kubelet.Config
			err := apiTLS(&cfg, tc.cert, tc.key, tc.ca)
			if tc.wantErrContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrContains) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErrContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if on := cfg.ServingCert != nil && cfg.ClientCA != nil; on != tc.wantOn {
				t.Fatalf("API on = %v, want %v", on, tc.wantOn)
			}
		})
	}
}
