package loopback

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

var quiet = slog.New(slog.DiscardHandler)

var testUser = admission.UserInfo{Name: "system:node:n1", Groups: []string{"system:nodes"}}

func roundTrip(t *testing.T, h http.Handler, req *http.Request) *http.Response {
	t.Helper()
	resp, err := (&Transport{Handler: h, User: testUser, Logger: quiet}).RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	return resp
}

func TestResponses(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (maxUnread*2+publishAt)/16+7) // streams, and blocks the writer
	tests := []struct {
		name       string
		method     string
		handler    http.HandlerFunc
		wantStatus int
		wantHeader map[string]string
		wantBody   []byte
		wantLength int64
	}{{
		name: "status, headers and body",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Test", "a")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"a":`)
			io.WriteString(w, `1}`)
		},
		wantStatus: 201, wantHeader: map[string]string{"Content-Type": "application/json", "X-Test": "a"},
		wantBody: []byte(`{"a":1}`), wantLength: 7,
	}, {
		name:       "implicit 200 and sniffed content type",
		handler:    func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") },
		wantStatus: 200, wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8"},
		wantBody: []byte("plain"), wantLength: 5,
	}, {
		name: "no body",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
			w.Write([]byte("x"))
		},
		wantStatus: 204, wantBody: []byte{}, wantLength: 0,
	}, {
		name:       "head",
		method:     http.MethodHead,
		handler:    func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dropped") },
		wantStatus: 200, wantBody: []byte{}, wantLength: 0,
	}, {
		name: "body larger than the buffers, written at once",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(big)
		},
		wantStatus: 200, wantBody: big, wantLength: -1,
	}, {
		name: "body larger than the buffers, written in pieces",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			for b := big; len(b) > 0; {
				n := min(len(b), 1000)
				w.Write(b[:n])
				b = b[n:]
			}
		},
		wantStatus: 200, wantBody: big, wantLength: -1,
	}, {
		name: "transfer encoding is not passed on",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Transfer-Encoding", "chunked")
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "x")
		},
		wantStatus: 200, wantHeader: map[string]string{"Transfer-Encoding": ""}, wantBody: []byte("x"), wantLength: 1,
	}, {
		name:       "panic before anything was written",
		handler:    func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Lost", "1"); panic("boom") },
		wantStatus: 500, wantHeader: map[string]string{"X-Lost": ""}, wantBody: []byte("loopback: the handler panicked: boom"), wantLength: 36,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "http://in-process/x", nil)
			req.RequestURI = ""
			resp := roundTrip(t, tt.handler, req)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			if resp.StatusCode != tt.wantStatus || resp.Status != fmt.Sprintf("%d %s", tt.wantStatus, http.StatusText(tt.wantStatus)) {
				t.Errorf("status %d (%q), want %d", resp.StatusCode, resp.Status, tt.wantStatus)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if !bytes.Equal(body, tt.wantBody) {
				t.Errorf("body: %d bytes %.40q, want %d bytes %.40q", len(body), body, len(tt.wantBody), tt.wantBody)
			}
			if resp.ContentLength != tt.wantLength {
				t.Errorf("ContentLength %d, want %d", resp.ContentLength, tt.wantLength)
			}
		})
	}
}

func TestRequestPassedToHandler(t *testing.T) {
	type seen struct {
		method, path, query, uri, remote, proto, host, ua, body string
		length                                                  int64
		authOK                                                  bool
		tls                                                     bool
	}
	got := make(chan seen, 1)
	var user admission.UserInfo
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, ok, err := Authenticator{}.Authenticate(r)
		if err != nil {
			t.Errorf("Authenticate: %v", err)
		}
		user = u
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.RequestURI, r.RemoteAddr, r.Proto, r.Host, r.UserAgent(), string(b), r.ContentLength, ok, r.TLS != nil}
	})
	req, _ := http.NewRequest(http.MethodPost, "http://in-process/api/v1/namespaces/a/pods?fieldManager=x", strings.NewReader(`{"kind":"Pod"}`))
	req.Header.Set("User-Agent", "skiff-test")
	resp := roundTrip(t, h, req)
	resp.Body.Close()
	s := <-got
	want := seen{method: "POST", path: "/api/v1/namespaces/a/pods", query: "fieldManager=x", uri: "/api/v1/namespaces/a/pods?fieldManager=x",
		remote: RemoteAddr, proto: "HTTP/1.1", host: "in-process", ua: "skiff-test", body: `{"kind":"Pod"}`, length: 14, authOK: true}
	if s != want {
		t.Errorf("handler saw %+v\nwant %+v", s, want)
	}
	if user.Name != "system:node:n1" || strings.Join(user.Groups, ",") != "system:nodes,system:authenticated" {
		t.Errorf("user %+v", user)
	}
	if len(testUser.Groups) != 1 {
		t.Errorf("the Transport's User was changed: %+v", testUser)
	}
}

func TestStreaming(t *testing.T) {
	next := make(chan struct{})
	ended := make(chan error, 1)
	writeErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;stream=watch")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for i := 0; ; i++ {
			select {
			case <-next:
			case <-r.Context().Done():
				ended <- r.Context().Err()
				// Writes after the reader left fail rather than block.
				_, err := w.Write(bytes.Repeat([]byte("x"), 2*maxUnread))
				writeErr <- err
				return
			}
			io.WriteString(w, "event-"+string(rune('0'+i))+"\n")
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush through ResponseController: %v", err)
			}
		}
	})
	resp := roundTrip(t, h, httptest.NewRequest("GET", "http://in-process/watch", nil))
	if resp.StatusCode != 200 || resp.ContentLength != -1 {
		t.Fatalf("status %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	buf := make([]byte, 64)
	for i := 0; i < 3; i++ {
		next <- struct{}{}
		// Each event is readable on its own, before the handler writes the next.
		n, err := resp.Body.Read(buf)
		if err != nil || string(buf[:n]) != "event-"+string(rune('0'+i))+"\n" {
			t.Fatalf("event %d: %q %v", i, buf[:n], err)
		}
	}
	resp.Body.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler context ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the body did not end the handler's context")
	}
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("a write after the body was closed succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write after the body was closed blocked")
	}
	if _, err := resp.Body.Read(buf); err == nil {
		t.Error("reading a closed body succeeded")
	}
}

func TestCancel(t *testing.T) {
	t.Run("before the response", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		ended := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			close(ended)
		})
		time.AfterFunc(50*time.Millisecond, cancel)
		req := httptest.NewRequestWithContext(ctx, "GET", "http://in-process/slow", nil)
		if _, err := (&Transport{Handler: h, User: testUser, Logger: quiet}).RoundTrip(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("RoundTrip: %v, want context.Canceled", err)
		}
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("the handler did not see the cancellation")
		}
	})
	t.Run("while streaming", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		resp := roundTrip(t, h, httptest.NewRequestWithContext(ctx, "GET", "http://in-process/watch", nil))
		defer resp.Body.Close()
		time.AfterFunc(50*time.Millisecond, cancel)
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
			t.Fatalf("reading: %v, want context.Canceled", err)
		}
	})
}

func TestPanicWhileStreaming(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic("boom")
	})
	resp := roundTrip(t, h, httptest.NewRequest("GET", "http://in-process/x", nil))
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if string(b) != "partial" || err == nil {
		t.Fatalf("read %q, %v; want the partial body and an error", b, err)
	}
}

func TestRefused(t *testing.T) {
	called := false
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true })
	for _, hdr := range []http.Header{
		{"Connection": {"Upgrade"}, "Upgrade": {"SPDY/3.1"}},
		{"Connection": {"keep-alive, upgrade"}},
		{"Upgrade": {"websocket"}},
	} {
		req := httptest.NewRequest("POST", "http://in-process/api/v1/namespaces/a/pods/p/exec", nil)
		req.Header = hdr
		if _, err := (&Transport{Handler: h, User: testUser, Logger: quiet}).RoundTrip(req); !errors.Is(err, ErrUpgrade) {
			t.Errorf("%v: %v, want ErrUpgrade", hdr, err)
		}
	}
	if called {
		t.Error("the handler served an upgrade")
	}
	// Handlers cannot take the connection over either.
	hijack := make(chan bool, 1)
	resp := roundTrip(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := w.(http.Hijacker)
		_, _, err := http.NewResponseController(w).Hijack()
		hijack <- ok || err == nil
	}), httptest.NewRequest("GET", "http://in-process/x", nil))
	resp.Body.Close()
	if <-hijack {
		t.Error("the response writer can be hijacked")
	}
}

func TestAuthenticator(t *testing.T) {
	inProcess := withCaller(context.Background(), testUser)
	tests := []struct {
		name   string
		ctx    context.Context
		header http.Header
		tls    bool
		wantOK bool
	}{
		{name: "in-process caller", ctx: inProcess, wantOK: true},
		{name: "no caller, no certificate", ctx: context.Background()},
		{name: "headers claiming a user", ctx: context.Background(), header: http.Header{
			"Impersonate-User": {"system:kube-scheduler"}, "X-Remote-User": {"system:kube-scheduler"}, "Authorization": {"Bearer system:kube-scheduler"}}},
		{name: "a request over TLS is never in-process", ctx: inProcess, tls: true},
		{name: "empty user name", ctx: withCaller(context.Background(), admission.UserInfo{Groups: []string{"system:masters"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequestWithContext(tt.ctx, "GET", "/api", nil)
			for k, v := range tt.header {
				r.Header[k] = v
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			u, ok, err := Authenticator{}.Authenticate(r)
			if err != nil || ok != tt.wantOK {
				t.Fatalf("Authenticate: %+v %v %v, want ok %v", u, ok, err, tt.wantOK)
			}
			if ok && (u.Name != testUser.Name || strings.Join(u.Groups, ",") != "system:nodes,system:authenticated") {
				t.Errorf("user %+v", u)
			}
		})
	}
}

// TestRemoteCannotClaim sends requests over a real connection, with every header a client could
// forge, to a server that authenticates with Authenticator.
func TestRemoteCannotClaim(t *testing.T) {
	var authenticated []bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok, _ := Authenticator{}.Authenticate(r)
		authenticated = append(authenticated, ok)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/api", nil)
	req.Header.Set("Impersonate-User", testUser.Name)
	req.Header.Set("X-Remote-User", testUser.Name)
	req.RemoteAddr = RemoteAddr
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The same request through the Transport is the in-process user.
	resp, err = (&http.Client{Transport: &Transport{Handler: srv.Config.Handler, User: testUser}}).Get("http://in-process/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(authenticated) != 2 || authenticated[0] || !authenticated[1] {
		t.Fatalf("authenticated (remote, in-process) = %v, want [false true]", authenticated)
	}
}
