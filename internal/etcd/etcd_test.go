package etcd

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
)

// shortDir returns a data dir short enough for a unix socket: t.TempDir() embeds the test name,
// which can push the socket path past the limit and silently test the TCP fallback instead.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))
}

func startT(t *testing.T, cfg Config) *Handle {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	began := time.Now()
	h, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("embedded=%v ready in %v on %v", h.Embedded(), time.Since(began), h.Endpoints())
	t.Cleanup(func() { h.Close() })
	return h
}

func TestEmbeddedStartPutGet(t *testing.T) {
	dir := shortDir(t)
	h := startT(t, Config{DataDir: dir})
	if !h.Embedded() {
		t.Fatal("no servers given but the handle is not embedded")
	}
	want := "unix://" + filepath.Join(dir, "etcd.sock")
	if eps := h.Endpoints(); len(eps) != 1 || eps[0] != want {
		t.Errorf("Endpoints() = %v, want [%s]", eps, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "etcd", "member")); err != nil {
		t.Errorf("etcd data not under <DataDir>/etcd: %v", err)
	}
	ctx := context.Background()
	if _, err := h.Client().Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := h.Client().Get(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Errorf("Get = %v", resp.Kvs)
	}

	// A second client sees the same store.
	c2, err := h.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if resp, err := c2.Get(ctx, "/k"); err != nil || len(resp.Kvs) != 1 {
		t.Errorf("second client Get = %v, %v", resp, err)
	}
}

func TestEmbeddedLimitsAndNoCompaction(t *testing.T) {
	h := startT(t, Config{DataDir: shortDir(t)})
	ctx := context.Background()
	cli := h.Client()

	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"well under the limit", 1 << 20, false},
		{"over MaxRequestBytes", MaxRequestBytes + 1024, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cli.Put(ctx, "/big", strings.Repeat("x", tt.size))
			if (err != nil) != tt.wantErr {
				t.Errorf("Put %d bytes: err = %v, wantErr %v", tt.size, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "too large") {
				t.Errorf("over-limit error does not say why: %v", err)
			}
		})
	}

	// Old revisions must stay readable until the API server compacts them itself.
	first, err := cli.Put(ctx, "/c", "1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := cli.Put(ctx, "/c", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	old, err := cli.Get(ctx, "/c", clientv3.WithRev(first.Header.Revision))
	if err != nil || len(old.Kvs) != 1 || string(old.Kvs[0].Value) != "1" {
		t.Errorf("old revision not readable: %v, %v", old, err)
	}

	st, err := cli.Status(ctx, h.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("status: version %s, db size %d, in use %d", st.Version, st.DbSize, st.DbSizeInUse)
}

func TestEmbeddedConfigChoices(t *testing.T) {
	ec, _ := embedConfig("/d", zap.NewNop())
	if ec.QuotaBackendBytes != 2<<30 {
		t.Errorf("quota = %d", ec.QuotaBackendBytes)
	}
	if ec.MaxRequestBytes != 1572864 || MaxRequestBytes != 1572864 {
		t.Errorf("MaxRequestBytes = %d / %d, want etcd's default 1.5 MiB", ec.MaxRequestBytes, MaxRequestBytes)
	}
	if ec.AutoCompactionRetention != "0" {
		t.Errorf("auto-compaction must be off, retention = %q", ec.AutoCompactionRetention)
	}
	if len(ec.ListenPeerUrls) != 0 || ec.EnableGRPCGateway {
		t.Errorf("peer listeners %v, gateway %v: want none", ec.ListenPeerUrls, ec.EnableGRPCGateway)
	}
	if ec.SnapshotCount >= 10000 || ec.SnapshotCatchUpEntries >= ec.SnapshotCount {
		t.Errorf("snapshot count %d / catch-up %d not reduced", ec.SnapshotCount, ec.SnapshotCatchUpEntries)
	}
	if err := ec.Validate(); err != nil {
		t.Errorf("config does not validate: %v", err)
	}
}

func TestClientURLChoice(t *testing.T) {
	tests := []struct {
		name       string
		dir        string
		wantScheme string
	}{
		{"short dir uses a socket", "/var/lib/skiff", "unix"},
		{"socket path at the limit", "/" + strings.Repeat("a", maxUnixPath-len("/etcd.sock")-1), "unix"},
		{"socket path one over", "/" + strings.Repeat("a", maxUnixPath-len("/etcd.sock")), "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, u := embedConfig(tt.dir, zap.NewNop())
			if u.Scheme != tt.wantScheme {
				t.Errorf("scheme = %s for %d-byte socket path", u.Scheme, len(filepath.Join(tt.dir, "etcd.sock")))
			}
			if u.Scheme == "http" && u.Host != "127.0.0.1:0" {
				t.Errorf("fallback host = %s, want an ephemeral loopback port", u.Host)
			}
		})
	}
}

func TestEmbeddedTCPFallback(t *testing.T) {
	long := filepath.Join(shortDir(t), strings.Repeat("d", 110))
	h := startT(t, Config{DataDir: long})
	ep := h.Endpoints()[0]
	u, err := url.Parse(ep)
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "0" {
		t.Fatalf("fallback endpoint = %q", ep)
	}
	if _, err := h.Client().Put(context.Background(), "/k", "v"); err != nil {
		t.Fatal(err)
	}
}

// Several servers on one machine must not collide: no fixed ports, no shared paths.
func TestEmbeddedParallelInstances(t *testing.T) {
	const n = 3
	dirs := []string{shortDir(t), shortDir(t), filepath.Join(shortDir(t), strings.Repeat("p", 110))}
	handles := make([]*Handle, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			handles[i], errs[i] = Start(context.Background(), Config{DataDir: dirs[i], Logger: testLogger(t)})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		defer handles[i].Close()
	}
	ctx := context.Background()
	for i, h := range handles {
		if _, err := h.Client().Put(ctx, "/who", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range handles {
		resp, err := h.Client().Get(ctx, "/who")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(resp.Kvs[0].Value); got != fmt.Sprint(i) {
			t.Errorf("instance %d reads %q: the stores are shared", i, got)
		}
	}
}

func TestEmbeddedRestartKeepsData(t *testing.T) {
	dir := shortDir(t)
	ctx := context.Background()
	h1 := startT(t, Config{DataDir: dir})
	put, err := h1.Client().Put(ctx, "/persist", "yes")
	if err != nil {
		t.Fatal(err)
	}
	if err := h1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h1.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "etcd.sock")); !os.IsNotExist(err) {
		t.Errorf("socket left behind after Close: %v", err)
	}

	h2 := startT(t, Config{DataDir: dir})
	resp, err := h2.Client().Get(ctx, "/persist")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "yes" {
		t.Fatalf("after restart Get = %v", resp.Kvs)
	}
	if resp.Kvs[0].ModRevision != put.Header.Revision {
		t.Errorf("revision changed across restart: %d -> %d", put.Header.Revision, resp.Kvs[0].ModRevision)
	}
}

func TestEmbeddedStartTimeout(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{"expired before start", time.Nanosecond},
		// Shorter than one raft tick, so the server is aborted mid-start.
		{"expires while electing", 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shortDir(t)
			if h, err := Start(context.Background(), Config{DataDir: dir, StartTimeout: tt.timeout, Logger: testLogger(t)}); err == nil {
				h.Close()
				t.Fatalf("Start met a %v deadline", tt.timeout)
			}
			// The aborted server must have let go of its directory and socket.
			startT(t, Config{DataDir: dir})
		})
	}
}

func TestStartValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"embedded without data dir", Config{}},
		{"cert without key", Config{Servers: []string{"https://127.0.0.1:1"}, CertFile: "c.crt"}},
		{"missing CA file", Config{Servers: []string{"https://127.0.0.1:1"}, CAFile: "/nonexistent/ca.crt"}},
		{"nobody listening", Config{Servers: []string{"http://127.0.0.1:1"}, StartTimeout: 500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = zap.NewNop()
			if h, err := Start(context.Background(), tt.cfg); err == nil {
				h.Close()
				t.Fatal("Start succeeded")
			}
		})
	}
}

// External mode is exercised against an embedded etcd run directly by the test, with TLS and
// client-certificate authentication, as a real external cluster would be set up.
func TestExternal(t *testing.T) {
	dir := shortDir(t)
	ca, srvCert, srvKey, cliCert, cliKey := writeTestPKI(t, dir)

	ec := embed.NewConfig()
	ec.Dir = filepath.Join(dir, "ext")
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(testLogger(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cu := url.URL{Scheme: "https", Host: addr}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	ec.ListenPeerUrls = nil
	ec.ClientTLSInfo.CertFile, ec.ClientTLSInfo.KeyFile = srvCert, srvKey
	ec.ClientTLSInfo.TrustedCAFile, ec.ClientTLSInfo.ClientCertAuth = ca, true
	e, err := embed.StartEtcd(ec)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("external test etcd not ready")
	}

	servers := []string{cu.String()}
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"client cert", Config{Servers: servers, CAFile: ca, CertFile: cliCert, KeyFile: cliKey}, false},
		{"no client cert", Config{Servers: servers, CAFile: ca}, true},
		{"untrusted server", Config{Servers: servers, CertFile: cliCert, KeyFile: cliKey}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.StartTimeout = 3 * time.Second
			tt.cfg.Logger = zap.NewNop()
			h, err := Start(context.Background(), tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Start err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer h.Close()
			if h.Embedded() || h.Err() != nil {
				t.Errorf("external handle claims an embedded server")
			}
			if _, err := h.Client().Put(context.Background(), "/ext", "ok"); err != nil {
				t.Errorf("Put through external handle: %v", err)
			}
		})
	}
}

// writeTestPKI writes a throwaway CA, a server pair for 127.0.0.1 and a client pair. It uses
// crypto/x509 directly: internal/pki is a sibling, and this package must not depend on it.
func writeTestPKI(t *testing.T, dir string) (ca, srvCert, srvKey, cliCert, cliKey string) {
	t.Helper()
	caKP := newTestCert(t, nil, &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	srv := newTestCert(t, caKP, &x509.Certificate{
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	cli := newTestCert(t, caKP, &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	w := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return w("ca.crt", caKP.certPEM), w("srv.crt", srv.certPEM), w("srv.key", srv.keyPEM),
		w("cli.crt", cli.certPEM), w("cli.key", cli.keyPEM)
}
