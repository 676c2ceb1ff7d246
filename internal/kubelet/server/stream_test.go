package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/utils/exec"

	"github.com/skiff-dev/skiff/internal/kubelet/server"
	"github.com/skiff-dev/skiff/internal/network/nettest"
	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/runtimetest"
)

type executorKind string

const (
	viaSPDY      executorKind = "spdy"
	viaWebSocket executorKind = "websocket"
)

func (e *env) executor(t *testing.T, kind executorKind, path string) remotecommand.Executor {
	t.Helper()
	u, err := url.Parse(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	var ex remotecommand.Executor
	if kind == viaSPDY {
		ex, err = remotecommand.NewSPDYExecutor(e.cfg, "POST", u)
	} else {
		ex, err = remotecommand.NewWebSocketExecutor(e.cfg, "GET", u.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func execPath(query string, cmd ...string) string {
	q := url.Values{"command": cmd}
	return "/exec/default/web/app?" + q.Encode() + "&" + query
}

func TestExec(t *testing.T) {
	e := newEnv(t)
	for _, kind := range []executorKind{viaSPDY, viaWebSocket} {
		for _, tc := range []struct {
			name          string
			cmd           []string
			query         string
			stdin         string
			wantOut       string
			wantErr       string
			wantCode      int
			wantErrSubstr string
		}{
			{name: "stdout", cmd: []string{"echo", "hi"}, query: "stdout=true&stderr=true", wantOut: "hi\n"},
			{name: "stderr", cmd: []string{"sh", "-c", "echo oops >&2"}, query: "stdout=true&stderr=true", wantErr: "oops\n"},
			{name: "stdin", cmd: []string{"cat"}, query: "stdin=true&stdout=true&stderr=true", stdin: "from the client\n", wantOut: "from the client\n"},
			{name: "exit code", cmd: []string{"sh", "-c", "echo bye; exit 3"}, query: "stdout=true&stderr=true", wantOut: "bye\n", wantCode: 3},
			{name: "missing command", cmd: []string{"nonexistent"}, query: "stdout=true&stderr=true", wantErr: "sh: nonexistent: not found\n", wantCode: 127},
		} {
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				opts := remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}
				if strings.Contains(tc.query, "stdin=true") {
					opts.Stdin = strings.NewReader(tc.stdin)
				}
				ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
				defer cancel()
				err := e.executor(t, kind, execPath(tc.query, tc.cmd...)).StreamWithContext(ctx, opts)
				if tc.wantCode != 0 {
					var ee exec.ExitError
					if !errors.As(err, &ee) || ee.ExitStatus() != tc.wantCode {
						t.Fatalf("err %v, want exit code %d", err, tc.wantCode)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if stdout.String() != tc.wantOut || stderr.String() != tc.wantErr {
					t.Fatalf("stdout %q stderr %q, want %q %q", stdout.String(), stderr.String(), tc.wantOut, tc.wantErr)
				}
			})
		}
	}
}

// sizeQueue hands the client's terminal sizes to the executor, then blocks until stopped.
type sizeQueue struct {
	sizes chan remotecommand.TerminalSize
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q.sizes
	if !ok {
		return nil
	}
	return &s
}

func TestExecTTYResize(t *testing.T) {
	e := newEnv(t)
	for _, kind := range []executorKind{viaSPDY, viaWebSocket} {
		t.Run(string(kind), func(t *testing.T) {
			stdinR, stdinW := io.Pipe()
			q := &sizeQueue{sizes: make(chan remotecommand.TerminalSize, 2)}
			q.sizes <- remotecommand.TerminalSize{Width: 120, Height: 40}
			var stdout bytes.Buffer
			done := make(chan error, 1)
			go func() {
				done <- e.executor(t, kind, execPath("stdin=true&stdout=true&tty=true", "cat")).StreamWithContext(e.ctx,
					remotecommand.StreamOptions{Stdin: stdinR, Stdout: &stdout, Tty: true, TerminalSizeQueue: q})
			}()
			select {
			case s := <-e.rt.sizes:
				if s != (runtime.TerminalSize{Width: 120, Height: 40}) {
					t.Fatalf("size %+v", s)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no resize reached the runtime")
			}
			q.sizes <- remotecommand.TerminalSize{Width: 80, Height: 24}
			select {
			case s := <-e.rt.sizes:
				if s != (runtime.TerminalSize{Width: 80, Height: 24}) {
					t.Fatalf("size %+v", s)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the second resize did not reach the runtime")
			}
			io.WriteString(stdinW, "typed\n")
			stdinW.Close()
			close(q.sizes)
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("exec did not end after stdin closed")
			}
			if stdout.String() != "typed\n" {
				t.Fatalf("stdout %q", stdout.String())
			}
		})
	}
}

// TestExecEndsWithTheClient: a process that neither reads nor writes must not outlive the client
// that started it.
func TestExecEndsWithTheClient(t *testing.T) {
	e := newEnv(t)
	for _, kind := range []executorKind{viaSPDY, viaWebSocket} {
		t.Run(string(kind), func(t *testing.T) {
			ctx, cancel := context.WithCancel(e.ctx)
			done := make(chan error, 1)
			go func() {
				done <- e.executor(t, kind, execPath("stdout=true", "sleep", "3600")).StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard})
			}()
			time.Sleep(300 * time.Millisecond)
			select {
			case err := <-e.rt.ended:
				t.Fatalf("exec ended early: %v", err)
			default:
			}
			cancel()
			<-done
			select {
			case err := <-e.rt.ended:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("exec ended with %v, want it cancelled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the process outlived its client")
			}
		})
	}
}

func TestExecErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, path string
		want       string
	}{
		{"no streams", execPath("", "ls"), "at least 1 of stdin, stdout, stderr"},
		{"no command", "/exec/default/web/app?stdout=true", "at least 1 command"},
		{"unknown container", "/exec/default/web/nope?command=ls&stdout=true", "not found"},
		{"attach to an unknown container", "/attach/default/web/nope?stdout=true", "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.executor(t, viaSPDY, tc.path).StreamWithContext(e.ctx, remotecommand.StreamOptions{Stdout: io.Discard})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	// A stopped container: the runtime refuses, and the client hears why.
	if err := e.rt.StopContainer(e.ctx, e.running, time.Second); err != nil {
		t.Fatal(err)
	}
	err := e.executor(t, viaWebSocket, execPath("stdout=true", "echo", "x")).StreamWithContext(e.ctx, remotecommand.StreamOptions{Stdout: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("exec in a stopped container: %v", err)
	}
}

// TestPortForward forwards to a server listening on the loopback of a network namespace the test
// made (the pod's), through client-go's SPDY dialer and its SPDY-over-WebSocket tunnel.
func TestPortForward(t *testing.T) {
	nettest.RequireRoot(t)
	e := newEnv(t)
	podNS := nettest.NewNamespace(t, "pod")
	ln, err := podNS.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from inside the pod")
	}))
	t.Cleanup(func() { ln.Close() })
	_, podPort, _ := net.SplitHostPort(ln.Addr().String())
	// A server that answers one line and hangs up, whatever the client does.
	oneShot, err := podNS.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { oneShot.Close() })
	go func() {
		for {
			c, err := oneShot.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			io.WriteString(c, "pod got "+line)
			c.Close()
		}
	}()
	_, oneShotPort, _ := net.SplitHostPort(oneShot.Addr().String())
	e.pods.sandboxes["default/web"] = server.SandboxRef{PodUID: "uid-1", NetNSPath: podNS.Path}

	// The same port on the host's loopback must not be what answers.
	if c, err := net.Dial("tcp", "127.0.0.1:"+podPort); err == nil {
		c.Close()
		t.Logf("note: port %s is also open on the host", podPort)
	}

	u, _ := url.Parse(e.srv.URL + "/portForward/default/web")
	for _, kind := range []executorKind{viaSPDY, viaWebSocket} {
		t.Run(string(kind), func(t *testing.T) {
			pfDialer := func() *portforward.PortForwarder {
				stop, ready := make(chan struct{}), make(chan struct{})
				t.Cleanup(func() { close(stop) })
				var pf *portforward.PortForwarder
				var err error
				if kind == viaSPDY {
					rt, up, derr := spdy.RoundTripperFor(e.cfg)
					if derr != nil {
						t.Fatal(derr)
					}
					pf, err = portforward.NewOnAddresses(spdy.NewDialer(up, &http.Client{Transport: rt}, "POST", u), []string{"127.0.0.1"}, []string{"0:" + podPort, "0:" + oneShotPort}, stop, ready, io.Discard, io.Discard)
				} else {
					d, derr := portforward.NewSPDYOverWebsocketDialer(u, e.cfg)
					if derr != nil {
						t.Fatal(derr)
					}
					pf, err = portforward.NewOnAddresses(d, []string{"127.0.0.1"}, []string{"0:" + podPort, "0:" + oneShotPort}, stop, ready, io.Discard, io.Discard)
				}
				if err != nil {
					t.Fatal(err)
				}
				errc := make(chan error, 1)
				go func() { errc <- pf.ForwardPorts() }()
				select {
				case <-ready:
				case err := <-errc:
					t.Fatalf("port-forward: %v", err)
				case <-time.After(10 * time.Second):
					t.Fatal("port-forward not ready")
				}
				return pf
			}
			pf := pfDialer()
			ports, err := pf.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 { // several connections over one forwarding session
				resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "hello from inside the pod" {
					t.Fatalf("request %d: %q", i, b)
				}
			}
			// The pod hangs up while the client still holds its side open: the client must see
			// the end, not wait for its own close.
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[1].Local))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "ping\n")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(c)
			if err != nil || string(b) != "pod got ping\n" {
				t.Fatalf("one-shot exchange: %q, %v", b, err)
			}
		})
	}
}

// TestPortForwardWebSocketChannels speaks the channel protocol of WebSocket port-forward, which
// no client-go helper implements any more: a data and an error channel per port, each opened
// by the port number.
func TestPortForwardWebSocketChannels(t *testing.T) {
	nettest.RequireRoot(t)
	e := newEnv(t)
	podNS := nettest.NewNamespace(t, "pod")
	ln, err := podNS.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "pod got "+line)
		c.Close()
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	e.pods.sandboxes["default/web"] = server.SandboxRef{NetNSPath: podNS.Path}
	cert, err := tls.X509KeyPair(e.cfg.CertData, e.cfg.KeyData)
	if err != nil {
		t.Fatal(err)
	}
	d := gwebsocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: e.ca.Pool(), Certificates: []tls.Certificate{cert}}, Subprotocols: []string{"v4.channel.k8s.io"}}
	ws, _, err := d.Dial(strings.Replace(e.srv.URL, "https", "wss", 1)+fmt.Sprintf("/portForward/default/web?port=%d", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := func() []byte {
		t.Helper()
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := []byte{byte(port), byte(port >> 8)}
	for ch := range 2 {
		if b := read(); len(b) != 3 || b[0] != byte(ch) || !bytes.Equal(b[1:], want) {
			t.Fatalf("channel %d opened with %v, want the port %v", ch, b, want)
		}
	}
	if err := ws.WriteMessage(gwebsocket.BinaryMessage, append([]byte{0}, "hello\n"...)); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for !bytes.HasSuffix(got, []byte("\n")) {
		b := read()
		if b[0] != 0 {
			t.Fatalf("message on channel %d: %q", b[0], b[1:])
		}
		got = append(got, b[1:]...)
	}
	if string(got) != "pod got hello\n" {
		t.Fatalf("read %q", got)
	}
}

func TestPortForwardClosedPort(t *testing.T) {
	nettest.RequireRoot(t)
	e := newEnv(t)
	podNS := nettest.NewNamespace(t, "pod")
	e.pods.sandboxes["default/web"] = server.SandboxRef{NetNSPath: podNS.Path}
	u, _ := url.Parse(e.srv.URL + "/portForward/default/web")
	rt, up, err := spdy.RoundTripperFor(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	var errOut bytes.Buffer
	pf, err := portforward.NewOnAddresses(spdy.NewDialer(up, &http.Client{Transport: rt}, "POST", u), []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	go pf.ForwardPorts()
	<-ready
	ports, _ := pf.GetPorts()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The forwarder closes the local connection once the pod refuses; a hang would time out.
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the connection to a closed pod port was left open")
	}
	if len(b) != 0 {
		t.Fatalf("read %q from a closed port", b)
	}
}

// attachable starts a container of the pod default/web that the tests attach to.
func (e *env) attachable(t *testing.T, name, script string, tty bool) {
	t.Helper()
	sbs, err := e.rt.ListPodSandbox(e.ctx, nil)
	if err != nil || len(sbs) != 1 {
		t.Fatalf("sandboxes %v, %v", sbs, err)
	}
	id, err := e.rt.CreateContainer(e.ctx, sbs[0].ID, &runtime.ContainerConfig{Name: name, Args: []string{"sh", "-c", script}, Stdin: true, StdinOnce: !tty, TTY: tty})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rt.StartContainer(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	e.pods.mu.Lock()
	e.pods.containers["default/web/"+name] = server.ContainerRef{PodUID: "uid-1", ID: id}
	e.pods.mu.Unlock()
}

// TestAttach: the client's input reaches the container's stdin (StdinOnce: its EOF too), and
// both output streams come back until the container ends.
func TestAttach(t *testing.T) {
	e := newEnv(t)
	for _, kind := range []executorKind{viaSPDY, viaWebSocket} {
		t.Run(string(kind), func(t *testing.T) {
			name := "once-" + string(kind)
			e.attachable(t, name, "cat; echo bye >&2", false)
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
			defer cancel()
			err := e.executor(t, kind, "/attach/default/web/"+name+"?stdin=true&stdout=true&stderr=true").StreamWithContext(ctx,
				remotecommand.StreamOptions{Stdin: strings.NewReader("hello\n"), Stdout: &stdout, Stderr: &stderr})
			if err != nil {
				t.Fatal(err)
			}
			if stdout.String() != "hello\n" || stderr.String() != "bye\n" {
				t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
			}
		})
	}
}

func TestAttachTTYResize(t *testing.T) {
	e := newEnv(t)
	for _, kind := range []executorKind{viaSPDY, viaWebSocket} {
		t.Run(string(kind), func(t *testing.T) {
			name := "tty-" + string(kind)
			e.attachable(t, name, "cat", true)
			stdinR, stdinW := io.Pipe()
			q := &sizeQueue{sizes: make(chan remotecommand.TerminalSize, 2)}
			q.sizes <- remotecommand.TerminalSize{Width: 120, Height: 40}
			var stdout runtimetest.SyncBuffer
			done := make(chan error, 1)
			go func() {
				done <- e.executor(t, kind, "/attach/default/web/"+name+"?stdin=true&stdout=true&tty=true").StreamWithContext(e.ctx,
					remotecommand.StreamOptions{Stdin: stdinR, Stdout: &stdout, Tty: true, TerminalSizeQueue: q})
			}()
			select {
			case s := <-e.rt.sizes:
				if s != (runtime.TerminalSize{Width: 120, Height: 40}) {
					t.Fatalf("size %+v", s)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no resize reached the runtime")
			}
			io.WriteString(stdinW, "typed\n")
			stdout.WaitFor(t, "typed\n", 10*time.Second)
			// With a terminal, the end of the client's input detaches it; the container runs on.
			stdinW.Close()
			close(q.sizes)
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("attach did not end after stdin closed")
			}
			e.pods.mu.Lock()
			id := e.pods.containers["default/web/"+name].ID
			e.pods.mu.Unlock()
			if st, err := e.rt.ContainerStatus(e.ctx, id); err != nil || st.State != runtime.ContainerRunning {
				t.Fatalf("after detaching: %+v, %v", st, err)
			}
		})
	}
}
