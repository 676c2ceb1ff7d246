package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHTTP(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TESTSERVER_PROBE", "hello")
	host, _ := os.Hostname()

	type step struct {
		method, target, body string
		wantCode             int
		wantBody             string // exact unless wantContains
		wantContains         bool
	}
	cases := []struct {
		name     string
		steps    []step
		wantExit int // -1: no exit expected
	}{
		{name: "root and hostname", wantExit: -1, steps: []step{
			{"GET", "/", "", 200, "testserver on " + host + "\n", false},
			{"GET", "/hostname", "", 200, host + "\n", false},
			{"GET", "/nope", "", 404, "", true},
		}},
		{name: "env", wantExit: -1, steps: []step{
			{"GET", "/env?name=TESTSERVER_PROBE", "", 200, "hello\n", false},
			{"GET", "/env?name=TESTSERVER_UNSET_XYZ", "", 404, "", true},
			{"GET", "/env", "", 200, "TESTSERVER_PROBE=hello\n", true},
		}},
		{name: "liveness fails and recovers", wantExit: -1, steps: []step{
			{"GET", "/healthz", "", 200, "ok\n", false},
			{"GET", "/fail", "", 405, "", true},
			{"POST", "/fail", "", 200, "/healthz failing\n", false},
			{"GET", "/healthz", "", 503, "failing\n", false},
			{"GET", "/readyz", "", 200, "ok\n", false},
			{"POST", "/recover", "", 200, "/healthz recovered\n", false},
			{"GET", "/healthz", "", 200, "ok\n", false},
		}},
		{name: "readiness alone", wantExit: -1, steps: []step{
			{"POST", "/fail?probe=readyz", "", 200, "/readyz failing\n", false},
			{"GET", "/readyz", "", 503, "failing\n", false},
			{"GET", "/healthz", "", 200, "ok\n", false},
			{"POST", "/fail?probe=startz", "", 400, "unknown probe", true},
			{"POST", "/recover?probe=readyz", "", 200, "/readyz recovered\n", false},
			{"GET", "/readyz", "", 200, "ok\n", false},
		}},
		{name: "exit with code", wantExit: 3, steps: []step{
			{"GET", "/exit?code=300", "", 400, "", true},
			{"GET", "/exit?code=3", "", 200, "exiting with code 3\n", false},
		}},
		{name: "volume write and read", wantExit: -1, steps: []step{
			{"GET", "/read?path=" + dir + "/v/a.txt", "", 404, "", true},
			{"POST", "/write?path=" + dir + "/v/a.txt&data=one", "", 200, "wrote 3 bytes to " + dir + "/v/a.txt\n", false},
			{"GET", "/read?path=" + dir + "/v/a.txt", "", 200, "one", false},
			{"POST", "/write?path=" + dir + "/v/a.txt&append=true", "two", 200, "", true},
			{"GET", "/read?path=" + dir + "/v/a.txt", "", 200, "onetwo", false},
			{"GET", "/write", "", 400, "", true},
		}},
		{name: "echo", wantExit: -1, steps: []step{
			{"POST", "/echo", "body text", 200, "body text", false},
			{"GET", "/echo?msg=hi", "", 200, "hi", false},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			exited := -1
			s := newServer(&lockedWriter{w: &log}, func(code int) { exited = code })
			h := s.handler()
			for _, st := range tc.steps {
				var body io.Reader
				if st.body != "" {
					body = strings.NewReader(st.body)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(st.method, st.target, body))
				if rec.Code != st.wantCode {
					t.Fatalf("%s %s: code %d, want %d (body %q)", st.method, st.target, rec.Code, st.wantCode, rec.Body.String())
				}
				got := rec.Body.String()
				if st.wantContains {
					if !strings.Contains(got, st.wantBody) {
						t.Fatalf("%s %s: body %q does not contain %q", st.method, st.target, got, st.wantBody)
					}
				} else if got != st.wantBody {
					t.Fatalf("%s %s: body %q, want %q", st.method, st.target, got, st.wantBody)
				}
			}
			if exited != tc.wantExit {
				t.Fatalf("exit code %d, want %d", exited, tc.wantExit)
			}
			if !strings.Contains(log.String(), tc.steps[0].method+" "+tc.steps[0].target) {
				t.Fatalf("request log %q does not record the first request", log.String())
			}
		})
	}
}

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TESTSERVER_CLI", "v1")
	host, _ := os.Hostname()
	if err := os.WriteFile(filepath.Join(dir, "present"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout string
		contains   bool
		after      func(t *testing.T)
	}{
		{name: "exit code", args: []string{"exit", "7"}, wantCode: 7},
		{name: "exit bad code", args: []string{"exit", "x"}, wantCode: 2},
		{name: "sleep seconds", args: []string{"sleep", "0.01"}, wantCode: 0},
		{name: "sleep duration", args: []string{"sleep", "10ms"}, wantCode: 0},
		{name: "sleep negative", args: []string{"sleep", "-1"}, wantCode: 2},
		{name: "echo", args: []string{"echo", "a", "b"}, wantStdout: "a b\n"},
		{name: "env one", args: []string{"env", "TESTSERVER_CLI"}, wantStdout: "v1\n"},
		{name: "env unset", args: []string{"env", "TESTSERVER_CLI_UNSET"}, wantCode: 1},
		{name: "env all", args: []string{"env"}, wantStdout: "TESTSERVER_CLI=v1\n", contains: true},
		{name: "hostname", args: []string{"hostname"}, wantStdout: host + "\n"},
		{name: "write then cat", args: []string{"write", filepath.Join(dir, "d/f"), "data"}, after: func(t *testing.T) {
			var out bytes.Buffer
			if code := run([]string{"cat", filepath.Join(dir, "d/f")}, nil, &out, io.Discard); code != 0 || out.String() != "data" {
				t.Fatalf("cat: code %d, out %q", code, out.String())
			}
		}},
		{name: "write stdin and append", args: []string{"write", filepath.Join(dir, "s"), "-"}, stdin: "in", after: func(t *testing.T) {
			if code := run([]string{"append", filepath.Join(dir, "s"), "+more"}, nil, io.Discard, io.Discard); code != 0 {
				t.Fatalf("append: code %d", code)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "s")); string(b) != "in+more" {
				t.Fatalf("file holds %q", b)
			}
		}},
		{name: "cat missing", args: []string{"cat", filepath.Join(dir, "missing")}, wantCode: 1},
		{name: "wait-file present", args: []string{"wait-file", filepath.Join(dir, "present"), "1s"}},
		{name: "wait-file times out", args: []string{"wait-file", filepath.Join(dir, "absent"), "100ms"}, wantCode: 1},
		{name: "missing argument", args: []string{"write", "x"}, wantCode: 2},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2},
		{name: "serve rejects extra args", args: []string{"serve", "extra"}, wantCode: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, strings.NewReader(tc.stdin), &out, &errb)
			if code != tc.wantCode {
				t.Fatalf("code %d, want %d (stderr %q)", code, tc.wantCode, errb.String())
			}
			if tc.contains {
				if !strings.Contains(out.String(), tc.wantStdout) {
					t.Fatalf("stdout %q does not contain %q", out.String(), tc.wantStdout)
				}
			} else if out.String() != tc.wantStdout {
				t.Fatalf("stdout %q, want %q", out.String(), tc.wantStdout)
			}
			if tc.after != nil {
				tc.after(t)
			}
		})
	}
}

// TestServeExits runs the real listener on a loopback port and checks that /exit ends serve with
// the requested code after the client got its answer.
func TestServeExits(t *testing.T) {
	done := make(chan int, 1)
	var out lockedWriter
	var buf bytes.Buffer
	out.w = &buf
	go func() { done <- run([]string{"-listen", "127.0.0.1", "-port", "0"}, nil, &out, io.Discard) }()
	var addr string
	deadline := time.Now().Add(5 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		out.mu.Lock()
		s := buf.String()
		out.mu.Unlock()
		if i := strings.Index(s, "listening on "); i >= 0 && strings.Contains(s[i:], "\n") {
			addr = strings.TrimSpace(strings.SplitN(s[i+len("listening on "):], "\n", 2)[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatal("server never reported its address")
	}
	resp, err := http.Get("http://" + addr + "/exit?code=4")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "exiting with code 4\n" {
		t.Fatalf("body %q", b)
	}
	select {
	case code := <-done:
		if code != 4 {
			t.Fatalf("serve returned %d, want 4", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after /exit")
	}
}
