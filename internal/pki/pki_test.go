package pki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	nodeIP    = net.ParseIP("192.0.2.10")
	nodeIP2   = net.ParseIP("198.51.100.7")
	serviceIP = net.ParseIP("10.96.0.1")
)

func testOptions() ServerOptions {
	return ServerOptions{
		Hostname:      "Node-A",
		NodeIPs:       []net.IP{nodeIP},
		ServiceIP:     serviceIP,
		ClusterDomain: "example.internal",
		ExtraSANs:     []string{"api.example.com", "203.0.113.5"},
	}
}

func mustEnsure(t *testing.T, dir string, opts ServerOptions) *Bundle {
	t.Helper()
	b, err := EnsureServer(dir, opts)
	if err != nil {
		t.Fatalf("EnsureServer: %v", err)
	}
	return b
}

func TestEnsureServerServingCertCoversNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	b := mustEnsure(t, dir, testOptions())

	if want := []string{CAName, APIServerName, AdminName, KubeletClientName}; !slices.Equal(b.Issued, want) {
		t.Errorf("Issued = %v, want %v", b.Issued, want)
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"node-a", true}, // hostnames are case-insensitive; stored lowercased
		{"localhost", true},
		{"kubernetes", true},
		{"kubernetes.default", true},
		{"kubernetes.default.svc", true},
		{"kubernetes.default.svc.example.internal", true},
		{"api.example.com", true},
		{"127.0.0.1", true},
		{"::1", true},
		{"10.96.0.1", true},
		{"192.0.2.10", true},
		{"203.0.113.5", true},
		{"kubernetes.default.svc.cluster.local", false}, // domain was overridden
		{"198.51.100.7", false},
		{"evil.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Server.Cert.Verify(x509.VerifyOptions{
				DNSName:   tt.name,
				Roots:     b.CAPool,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if (err == nil) != tt.ok {
				t.Errorf("verify for %q: err = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
	if b.Serving.Leaf == nil || b.Serving.Leaf.SerialNumber.Cmp(b.Server.Cert.SerialNumber) != 0 {
		t.Errorf("Serving.Leaf does not match the serving certificate")
	}
	if _, ok := b.Serving.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("serving key is %T, want *ecdsa.PrivateKey", b.Serving.PrivateKey)
	}
}

func TestEnsureServerDefaultDomainAndHostname(t *testing.T) {
	b := mustEnsure(t, t.TempDir(), ServerOptions{})
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no hostname:", err)
	}
	for _, n := range []string{"kubernetes.default.svc.cluster.local", host} {
		if err := b.Server.Cert.VerifyHostname(n); err != nil {
			t.Errorf("default serving cert does not cover %q: %v", n, err)
		}
	}
}

func TestEnsureServerAdminCert(t *testing.T) {
	b := mustEnsure(t, t.TempDir(), testOptions())
	c := b.Admin.Cert
	if c.Subject.CommonName != "kubernetes-admin" || !slices.Equal(c.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("admin subject = %v", c.Subject)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin cert does not verify as a client cert: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Errorf("admin cert must not be usable for serving")
	}
	if !b.CA.Cert.IsCA || !b.CA.Cert.MaxPathLenZero {
		t.Errorf("CA constraints: IsCA=%v MaxPathLenZero=%v", b.CA.Cert.IsCA, b.CA.Cert.MaxPathLenZero)
	}
}

func TestEnsureServerFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	mustEnsure(t, dir, testOptions())
	tests := []struct {
		file string
		mode os.FileMode
	}{
		{".", 0o700 | os.ModeDir},
		{"ca.key", 0o600},
		{"apiserver.key", 0o600},
		{"admin.key", 0o600},
		{"ca.crt", 0o644},
		{"apiserver.crt", 0o644},
		{"admin.crt", 0o644},
	}
	for _, tt := range tests {
		fi, err := os.Stat(filepath.Join(dir, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tt.mode {
			t.Errorf("%s mode = %v, want %v", tt.file, fi.Mode(), tt.mode)
		}
	}
	// No temporary files may be left behind by the atomic writes.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 8 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("dir holds %v, want exactly the four pairs", names)
	}
}

func serials(b *Bundle) [3]string {
	return [3]string{b.CA.Cert.SerialNumber.String(), b.Server.Cert.SerialNumber.String(), b.Admin.Cert.SerialNumber.String()}
}

func TestEnsureServerRestartReuses(t *testing.T) {
	dir := t.TempDir()
	first := mustEnsure(t, dir, testOptions())

	tests := []struct {
		name string
		opts func() ServerOptions
	}{
		{"same options", testOptions},
		{"fewer SANs", func() ServerOptions { o := testOptions(); o.ExtraSANs = nil; return o }},
		{"same names, different case and order", func() ServerOptions {
			o := testOptions()
			o.Hostname = "NODE-A"
			o.ExtraSANs = []string{"203.0.113.5", "API.example.com"}
			o.NodeIPs = []net.IP{nodeIP.To16()}
			return o
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			again := mustEnsure(t, dir, tt.opts())
			if len(again.Issued) != 0 {
				t.Errorf("restart issued %v, want nothing", again.Issued)
			}
			if serials(again) != serials(first) {
				t.Errorf("serials changed on restart: %v -> %v", serials(first), serials(again))
			}
		})
	}
}

func TestEnsureServerReissuesServingCertForNewSAN(t *testing.T) {
	dir := t.TempDir()
	first := mustEnsure(t, dir, testOptions())

	opts := testOptions()
	opts.NodeIPs = append(opts.NodeIPs, nodeIP2)
	second := mustEnsure(t, dir, opts)
	if !slices.Equal(second.Issued, []string{APIServerName}) {
		t.Fatalf("Issued = %v, want only %s", second.Issued, APIServerName)
	}
	s1, s2 := serials(first), serials(second)
	if s1[0] != s2[0] || s1[2] != s2[2] {
		t.Errorf("CA or admin changed: %v -> %v", s1, s2)
	}
	if s1[1] == s2[1] {
		t.Errorf("serving cert was not reissued")
	}
	if err := second.Server.Cert.VerifyHostname(nodeIP2.String()); err != nil {
		t.Errorf("reissued cert does not cover the new IP: %v", err)
	}
	// And the reissue is what the next start finds on disk.
	third := mustEnsure(t, dir, opts)
	if len(third.Issued) != 0 || serials(third) != s2 {
		t.Errorf("after reissue, restart issued %v with serials %v, want reuse of %v", third.Issued, serials(third), s2)
	}
}

func TestEnsureServerRepairsLeavesButNeverTheCA(t *testing.T) {
	tests := []struct {
		name      string
		damage    func(t *testing.T, dir string)
		wantErr   bool
		wantIssue []string
	}{
		{"serving key deleted", func(t *testing.T, dir string) { rm(t, dir, "apiserver.key") }, false, []string{APIServerName}},
		{"admin key garbage", func(t *testing.T, dir string) { write(t, dir, "admin.key", "junk") }, false, []string{AdminName}},
		{"serving key from another pair", func(t *testing.T, dir string) {
			data, err := os.ReadFile(filepath.Join(dir, "admin.key"))
			if err != nil {
				t.Fatal(err)
			}
			write(t, dir, "apiserver.key", string(data))
		}, false, []string{APIServerName}},
		{"CA key missing", func(t *testing.T, dir string) { rm(t, dir, "ca.key") }, true, nil},
		{"CA cert missing", func(t *testing.T, dir string) { rm(t, dir, "ca.crt") }, true, nil},
		{"CA cert garbage", func(t *testing.T, dir string) { write(t, dir, "ca.crt", "junk") }, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mustEnsure(t, dir, testOptions())
			tt.damage(t, dir)
			b, err := EnsureServer(dir, testOptions())
			if tt.wantErr {
				if err == nil {
					t.Fatalf("EnsureServer succeeded over a damaged CA")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b.Issued, tt.wantIssue) {
				t.Errorf("Issued = %v, want %v", b.Issued, tt.wantIssue)
			}
		})
	}
}

func TestEnsureServerReissuesLeavesOfAnotherCA(t *testing.T) {
	dir := t.TempDir()
	mustEnsure(t, dir, testOptions())
	other, err := NewCA("someone-else")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPair(dir, CAName, &other.KeyPair); err != nil {
		t.Fatal(err)
	}
	b := mustEnsure(t, dir, testOptions())
	if !slices.Equal(b.Issued, []string{APIServerName, AdminName, KubeletClientName}) {
		t.Errorf("Issued = %v, want every leaf", b.Issued)
	}
	if b.CA.Cert.SerialNumber.Cmp(other.Cert.SerialNumber) != 0 {
		t.Errorf("EnsureServer replaced the CA on disk")
	}
}

func TestSatisfies(t *testing.T) {
	ca, err := NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	spec := CertSpec{CommonName: "x", DNSNames: []string{"a.example"}, IPs: []net.IP{nodeIP}, Usage: ServerAuth}
	kp, err := ca.Issue(spec)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name string
		spec CertSpec
		now  time.Time
		want bool
	}{
		{"as issued", spec, now, true},
		{"subset of names", CertSpec{CommonName: "x", Usage: ServerAuth}, now, true},
		{"new DNS name", CertSpec{CommonName: "x", DNSNames: []string{"b.example"}, Usage: ServerAuth}, now, false},
		{"new IP", CertSpec{CommonName: "x", IPs: []net.IP{nodeIP2}, Usage: ServerAuth}, now, false},
		{"other CN", CertSpec{CommonName: "y", Usage: ServerAuth}, now, false},
		{"other groups", CertSpec{CommonName: "x", Organizations: []string{"g"}, Usage: ServerAuth}, now, false},
		{"client usage wanted", CertSpec{CommonName: "x", Usage: ClientAuth}, now, false},
		{"inside renewal window", spec, kp.Cert.NotAfter.Add(-RenewBefore / 2), false},
		{"just before renewal window", spec, kp.Cert.NotAfter.Add(-RenewBefore - time.Hour), true},
		{"expired", spec, kp.Cert.NotAfter.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := satisfies(kp.Cert, ca, tt.spec, tt.now); got != tt.want {
				t.Errorf("satisfies = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSign(t *testing.T) {
	ca, err := NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		spec    CertSpec
		wantErr bool
	}{
		{"kubelet client", CertSpec{CommonName: "system:node:n1", Organizations: []string{"system:nodes"}, Usage: ClientAuth}, false},
		{"kubelet serving", CertSpec{CommonName: "system:node:n1", DNSNames: []string{"n1"}, IPs: []net.IP{nodeIP}, Usage: ServerAuth}, false},
		{"both usages", CertSpec{CommonName: "dual", Usage: ServerAuth | ClientAuth}, false},
		{"short validity", CertSpec{CommonName: "s", Usage: ClientAuth, Validity: time.Hour}, false},
		{"validity capped by CA", CertSpec{CommonName: "s", Usage: ClientAuth, Validity: 2 * CAValidity}, false},
		{"no usage", CertSpec{CommonName: "x"}, true},
		{"no identity", CertSpec{Usage: ClientAuth}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := ca.Sign(key.Public(), tt.spec)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Sign err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !cert.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
				t.Errorf("certificate carries another public key")
			}
			if cert.NotAfter.After(ca.Cert.NotAfter) {
				t.Errorf("leaf outlives its CA: %v > %v", cert.NotAfter, ca.Cert.NotAfter)
			}
			if tt.spec.Validity == time.Hour && cert.NotAfter.After(time.Now().Add(time.Hour)) {
				t.Errorf("validity not honoured: NotAfter %v", cert.NotAfter)
			}
			for u, eku := range map[Usage]x509.ExtKeyUsage{ServerAuth: x509.ExtKeyUsageServerAuth, ClientAuth: x509.ExtKeyUsageClientAuth} {
				_, verr := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{eku}})
				if want := tt.spec.Usage&u != 0; (verr == nil) != want {
					t.Errorf("usage %v: verify err = %v, want ok=%v", eku, verr, want)
				}
			}
			if cert.Subject.CommonName != tt.spec.CommonName || !slices.Equal(cert.Subject.Organization, tt.spec.Organizations) {
				t.Errorf("subject = %v", cert.Subject)
			}
		})
	}
}

func TestWriteKubeconfigYieldsWorkingClient(t *testing.T) {
	dir := t.TempDir()
	b := mustEnsure(t, filepath.Join(dir, "pki"), testOptions())

	// A real handshake: the server requires a client cert from our CA and echoes the user it sees.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.TLS.PeerCertificates[0]
		io.WriteString(w, c.Subject.CommonName+"/"+c.Subject.Organization[0])
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{b.Serving}, ClientCAs: b.CAPool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	path := filepath.Join(dir, "admin.conf")
	// A pre-existing world-readable file must end up 0600 too.
	if err := os.WriteFile(path, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "https://localhost:" + port // by name, so the DNS SAN is what gets checked
	if err := WriteKubeconfig(path, url, "skiff", "admin", b.CA.CertPEM, b.Admin.CertPEM, b.Admin.KeyPEM); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode = %v, want 0600", fi.Mode().Perm())
	}

	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "admin@skiff" {
		t.Errorf("current context = %q", cfg.CurrentContext)
	}
	if c := cfg.Clusters["skiff"]; c == nil || c.CertificateAuthority != "" || len(c.CertificateAuthorityData) == 0 {
		t.Errorf("cluster entry must embed the CA: %+v", c)
	}
	if u := cfg.AuthInfos["admin"]; u == nil || u.ClientCertificate != "" || u.ClientKey != "" {
		t.Errorf("user entry must embed credentials: %+v", u)
	}

	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != url || len(rc.CertData) == 0 || len(rc.KeyData) == 0 || len(rc.CAData) == 0 {
		t.Fatalf("rest.Config = host %q cert %d key %d ca %d bytes", rc.Host, len(rc.CertData), len(rc.KeyData), len(rc.CAData))
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("request with kubeconfig credentials: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "kubernetes-admin/system:masters" {
		t.Errorf("server saw client %q", body)
	}
}

func TestHostIPs(t *testing.T) {
	ips, err := HostIPs()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host IPs: %v", ips)
	seenV6 := false
	for _, ip := range ips {
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			t.Errorf("HostIPs returned unusable %v", ip)
		}
		if ip.To4() == nil {
			seenV6 = true
		} else if seenV6 {
			t.Errorf("IPv4 %v listed after an IPv6 address", ip)
		}
	}
}

func TestUsableSAN(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"192.0.2.1", true},
		{"10.0.0.5", true},
		{"2001:db8::1", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"169.254.1.1", false},
		{"fe80::1", false},
		{"0.0.0.0", false},
		{"ff02::1", false},
	}
	for _, tt := range tests {
		if got := usableSAN(net.ParseIP(tt.ip)); got != tt.want {
			t.Errorf("usableSAN(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

func TestEnsureServiceAccountKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := EnsureServiceAccountKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "sa.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sa.key: %v mode %v", err, fi)
	}
	rm(t, dir, "sa.pub")
	k2, err := EnsureServiceAccountKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Public().(*ecdsa.PublicKey).Equal(k2.Public()) {
		t.Errorf("service account key changed across calls")
	}
	pubPEM, err := os.ReadFile(filepath.Join(dir, "sa.pub"))
	if err != nil {
		t.Fatalf("sa.pub not restored: %v", err)
	}
	write(t, dir, "sa.key", "junk")
	if _, err := EnsureServiceAccountKey(dir); err == nil {
		t.Errorf("a corrupt signing key must be an error, not silently replaced")
	}
	if len(pubPEM) == 0 {
		t.Errorf("empty sa.pub")
	}
}

func rm(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
