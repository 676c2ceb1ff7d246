package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/kubelet/server"
	"github.com/skiff-dev/skiff/internal/pki"
	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/fake"
)

// fakePods is the kubelet core reduced to a table.
type fakePods struct {
	mu         sync.Mutex
	containers map[string]server.ContainerRef // "ns/pod/container"
	sandboxes  map[string]server.SandboxRef   // "ns/pod"
}

func (p *fakePods) Container(ns, pod, c string) (server.ContainerRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ref, ok := p.containers[ns+"/"+pod+"/"+c]
	if !ok {
		return ref, fmt.Errorf("container %s of pod %s/%s: %w", c, ns, pod, runtime.ErrNotFound)
	}
	return ref, nil
}

func (p *fakePods) Sandbox(ns, pod string) (server.SandboxRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ref, ok := p.sandboxes[ns+"/"+pod]
	if !ok {
		return ref, fmt.Errorf("pod %s/%s: %w", ns, pod, runtime.ErrNotFound)
	}
	return ref, nil
}

// recordingRuntime is the fake runtime with the terminal sizes exec requests received, which the
// fake itself ignores.
type recordingRuntime struct {
	*fake.Runtime
	sizes chan runtime.TerminalSize
	// ended gets each exec's error once the runtime returns.
	ended chan error
}

func (r *recordingRuntime) Exec(ctx context.Context, id string, req *runtime.ExecRequest) (int, error) {
	if req.Resize != nil {
		go func() {
			for s := range req.Resize {
				r.sizes <- s
			}
		}()
	}
	code, err := r.Runtime.Exec(ctx, id, req)
	select {
	case r.ended <- err:
	default:
	}
	return code, err
}

func (r *recordingRuntime) Attach(ctx context.Context, id string, req *runtime.AttachRequest) error {
	if in := req.Resize; in != nil {
		go func() {
			for s := range in {
				r.sizes <- s
			}
		}()
	}
	return r.Runtime.Attach(ctx, id, req)
}

type env struct {
	t       *testing.T
	srv     *httptest.Server
	pods    *fakePods
	rt      *recordingRuntime
	ca      *pki.CA
	cfg     *rest.Config // the API server's identity
	client  *http.Client
	dir     string
	ctx     context.Context
	running string // a running container's ID in default/web
}

func issue(t *testing.T, ca *pki.CA, spec pki.CertSpec) *pki.KeyPair {
	t.Helper()
	kp, err := ca.Issue(spec)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ca, err := pki.NewCA("test-cluster-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := issue(t, ca, pki.CertSpec{CommonName: "node", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.ServerAuth}).TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rt := &recordingRuntime{Runtime: fake.New(dir, nil), sizes: make(chan runtime.TerminalSize, 16), ended: make(chan error, 16)}
	ctx := t.Context()
	sb, err := rt.RunPodSandbox(ctx, &runtime.SandboxConfig{Name: "web", Namespace: "default", UID: "uid-1"})
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "app.log")
	id, err := rt.CreateContainer(ctx, sb, &runtime.ContainerConfig{Name: "app", Args: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}, LogPath: logPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.RemovePodSandbox(context.Background(), sb) })
	pods := &fakePods{
		containers: map[string]server.ContainerRef{"default/web/app": {PodUID: "uid-1", ID: id, LogPath: logPath}},
		sandboxes:  map[string]server.SandboxRef{},
	}
	s := server.New(server.Config{Pods: pods, Runtime: rt, ClientCA: ca.Pool(), ServingCert: serving, LogPollInterval: 20 * time.Millisecond})
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = s.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := issue(t, ca, pki.CertSpec{CommonName: pki.KubeletClientCommonName, Usage: pki.ClientAuth})
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: client.CertPEM, KeyData: client.KeyPEM}}
	return &env{t: t, srv: srv, pods: pods, rt: rt, ca: ca, cfg: cfg, client: httpClient(t, ca, client), dir: dir, ctx: ctx, running: id}
}

func httpClient(t *testing.T, ca *pki.CA, kp *pki.KeyPair) *http.Client {
	t.Helper()
	tc := &tls.Config{RootCAs: ca.Pool()}
	if kp != nil {
		cert, err := kp.TLSCertificate()
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
}

func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := e.client.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	stranger := issue(t, e.ca, pki.CertSpec{CommonName: "system:node:evil", Usage: pki.ClientAuth})
	otherCA, _ := pki.NewCA("other")
	forged := issue(t, otherCA, pki.CertSpec{CommonName: pki.KubeletClientCommonName, Usage: pki.ClientAuth})
	for _, tc := range []struct {
		name   string
		client *http.Client
		path   string
		want   int
	}{
		{"no certificate", httpClient(t, e.ca, nil), "/containerLogs/default/web/app", 401},
		{"no certificate exec", httpClient(t, e.ca, nil), "/exec/default/web/app?command=ls&stdout=1", 401},
		{"wrong user", httpClient(t, e.ca, stranger), "/containerLogs/default/web/app", 403},
		{"wrong user port-forward", httpClient(t, e.ca, stranger), "/portForward/default/web", 403},
		{"healthz needs nothing", httpClient(t, e.ca, nil), "/healthz", 200},
		{"the API server", e.client, "/containerLogs/default/web/app", 200},
		{"unknown container", e.client, "/containerLogs/default/web/nope", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.client.Get(e.srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s: %d %s, want %d", tc.path, resp.StatusCode, b, tc.want)
			}
		})
	}
	// A certificate of another CA never completes the handshake's verification.
	if resp, err := httpClient(t, e.ca, forged).Get(e.srv.URL + "/containerLogs/default/web/app"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("certificate of another CA: %d", resp.StatusCode)
		}
	}
}

// writeLog writes CRI records to path.
func writeLog(t *testing.T, path string, lines ...runtime.LogLine) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b []byte
	for _, l := range lines {
		b = runtime.FormatLogLine(b, l)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestLogs(t *testing.T) {
	e := newEnv(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	path := filepath.Join(e.dir, "static.log")
	prev := filepath.Join(e.dir, "prev.log")
	writeLog(t, path,
		runtime.LogLine{Time: at(0), Stream: "stdout", Content: []byte("one")},
		runtime.LogLine{Time: at(1), Stream: "stderr", Content: []byte("two")},
		runtime.LogLine{Time: at(2), Stream: "stdout", Partial: true, Content: []byte("th")},
		runtime.LogLine{Time: at(3), Stream: "stdout", Content: []byte("ree")},
		runtime.LogLine{Time: at(4), Stream: "stdout", Content: []byte("four")},
	)
	writeLog(t, prev, runtime.LogLine{Time: at(0), Stream: "stdout", Content: []byte("before the restart")})
	e.pods.containers["default/static/app"] = server.ContainerRef{LogPath: path, PreviousLogPath: prev}
	e.pods.containers["default/fresh/app"] = server.ContainerRef{LogPath: path}
	ts := func(s int) string { return at(s).Format(time.RFC3339Nano) + " " }
	for _, tc := range []struct {
		name, query string
		code        int
		want        string
	}{
		{"all", "", 200, "one\ntwo\nthree\nfour\n"},
		{"timestamps", "?timestamps=true", 200, ts(0) + "one\n" + ts(1) + "two\n" + ts(2) + "three\n" + ts(4) + "four\n"},
		{"tail", "?tailLines=2", 200, "three\nfour\n"},
		{"tail zero", "?tailLines=0", 200, ""},
		{"tail more than there is", "?tailLines=10", 200, "one\ntwo\nthree\nfour\n"},
		{"sinceTime", "?sinceTime=" + url.QueryEscape(at(1).Truncate(time.Second).Add(time.Second).Format(time.RFC3339)), 200, "three\nfour\n"},
		{"sinceTime and tail", "?tailLines=1&sinceTime=" + url.QueryEscape(at(1).Truncate(time.Second).Format(time.RFC3339)), 200, "four\n"},
		{"limitBytes", "?limitBytes=6", 200, "one\ntw"},
		{"stderr only", "?stream=Stderr", 200, "two\n"},
		{"previous", "?previous=true", 200, "before the restart\n"},
		{"bad tail", "?tailLines=x", 400, ""},
		{"both since", "?sinceSeconds=4&sinceTime=2026-01-02T03:04:05Z", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.get("/containerLogs/default/static/app" + tc.query)
			if code != tc.code {
				t.Fatalf("code %d, want %d: %s", code, tc.code, body)
			}
			if code == 200 && body != tc.want {
				t.Fatalf("got %q, want %q", body, tc.want)
			}
		})
	}
	if code, body := e.get("/containerLogs/default/fresh/app?previous=true"); code != 400 || !strings.Contains(body, "previous terminated container") {
		t.Fatalf("previous without one: %d %s", code, body)
	}
	// sinceSeconds is relative to now: everything in the file is older.
	if code, body := e.get("/containerLogs/default/static/app?sinceSeconds=10"); code != 200 || body != "" {
		t.Fatalf("sinceSeconds: %d %q", code, body)
	}
}

// TestLogsFollow follows a running container's log while lines are appended, across a rotation,
// until the container ends.
func TestLogsFollow(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "follow.log")
	writeLog(t, path, runtime.LogLine{Time: time.Now(), Stream: "stdout", Content: []byte("first")})
	e.pods.containers["default/web/app"] = server.ContainerRef{ID: e.running, LogPath: path}
	resp, err := e.client.Get(e.srv.URL + "/containerLogs/default/web/app?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(want string) {
		t.Helper()
		select {
		case l := <-lines:
			if l != want {
				t.Fatalf("read %q, want %q", l, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no line %q", want)
		}
	}
	next("first")
	writeLog(t, path, runtime.LogLine{Time: time.Now(), Stream: "stdout", Content: []byte("second")})
	next("second")

	rot := &server.Rotator{Reopener: e.rt, MaxSize: 10, MaxFiles: 3, Compress: true}
	if rotated, err := rot.Rotate(e.ctx, e.running, path); err != nil || !rotated {
		t.Fatalf("rotate: %v %v", rotated, err)
	}
	// As a writer that had not reopened yet: the old file's last line must not be lost.
	writeLog(t, path+".1", runtime.LogLine{Time: time.Now(), Stream: "stdout", Content: []byte("late")})
	writeLog(t, path, runtime.LogLine{Time: time.Now(), Stream: "stdout", Content: []byte("after rotation")})
	next("late")
	next("after rotation")

	if err := e.rt.StopContainer(e.ctx, e.running, time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case l, ok := <-lines:
		if ok {
			t.Fatalf("unexpected line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the follow did not end with the container")
	}
}

func TestRotator(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	var reopened []string
	rot := &server.Rotator{Reopener: reopenFunc(func(id string) error { reopened = append(reopened, id); return nil }), MaxSize: 5, MaxFiles: 3, Compress: true}
	for i := range 4 {
		if err := os.WriteFile(path, []byte(fmt.Sprintf("generation %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if rotated, err := rot.Rotate(context.Background(), "c1", path); err != nil || !rotated {
			t.Fatalf("rotation %d: %v %v", i, rotated, err)
		}
	}
	os.WriteFile(path, []byte("tiny"), 0o644)
	if rotated, _ := rot.Rotate(context.Background(), "c1", path); rotated {
		t.Fatal("rotated a file under MaxSize")
	}
	want := []string{path + ".1", path + ".2.gz"}
	if got := rot.RotatedFiles(path); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("files %v, want %v", got, want)
	}
	if b, _ := os.ReadFile(path + ".1"); string(b) != "generation 3\n" {
		t.Fatalf(".1 holds %q", b)
	}
	if len(reopened) != 4 {
		t.Fatalf("reopened %v", reopened)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Fatalf("kept %d files, want 3", len(entries))
	}
}

type reopenFunc func(id string) error

func (f reopenFunc) ReopenContainerLog(_ context.Context, id string) error { return f(id) }

// TestServe runs the real listener path: TLS from the configured certificate, /healthz for
// anyone, the API for the allowed user, and a clean stop when the context ends.
func TestServe(t *testing.T) {
	ca, err := pki.NewCA("serve-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := issue(t, ca, pki.CertSpec{CommonName: "node", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.ServerAuth}).TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "0.log")
	writeLog(t, path, runtime.LogLine{Time: time.Now(), Stream: "stdout", Content: []byte("served")})
	pods := &fakePods{containers: map[string]server.ContainerRef{"ns/p/c": {LogPath: path}}}
	s := server.New(server.Config{Pods: pods, ClientCA: ca.Pool(), ServingCert: serving, AllowedUsers: []string{"someone-else", "apiserver"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	base := "https://" + ln.Addr().String()
	get := func(c *http.Client, path string) (int, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(httpClient(t, ca, nil), "/healthz"); code != 200 || body != "ok" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	allowed := httpClient(t, ca, issue(t, ca, pki.CertSpec{CommonName: "apiserver", Usage: pki.ClientAuth}))
	if code, body := get(allowed, "/containerLogs/ns/p/c"); code != 200 || body != "served\n" {
		t.Fatalf("logs: %d %q", code, body)
	}
	// AllowedUsers replaces the default: the usual name is not let in.
	def := httpClient(t, ca, issue(t, ca, pki.CertSpec{CommonName: server.DefaultAllowedUser, Usage: pki.ClientAuth}))
	if code, _ := get(def, "/containerLogs/ns/p/c"); code != 403 {
		t.Fatalf("default user with AllowedUsers set: %d", code)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

func TestLogsWithoutARunningContainer(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "done.log")
	writeLog(t, path, runtime.LogLine{Time: time.Now(), Stream: "stdout", Content: []byte("done")},
		runtime.LogLine{Time: time.Now(), Stream: "stdout", Partial: true, Content: []byte("no newline")})
	e.pods.containers["default/done/app"] = server.ContainerRef{LogPath: path}
	e.pods.containers["default/waiting/app"] = server.ContainerRef{}
	e.pods.containers["default/nolog/app"] = server.ContainerRef{ID: e.running, LogPath: filepath.Join(e.dir, "absent.log")}
	// Following a container that runs no more returns what there is, the unfinished line as is.
	if code, body := e.get("/containerLogs/default/done/app?follow=true"); code != 200 || body != "done\nno newline" {
		t.Fatalf("follow of an ended container: %d %q", code, body)
	}
	if code, body := e.get("/containerLogs/default/waiting/app"); code != 400 || !strings.Contains(body, "waiting to start") {
		t.Fatalf("no attempt yet: %d %s", code, body)
	}
	if code, body := e.get("/containerLogs/default/nolog/app"); code != 400 || !strings.Contains(body, "no log yet") {
		t.Fatalf("no log file: %d %s", code, body)
	}
}
