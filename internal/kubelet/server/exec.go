package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/skiff-dev/skiff/internal/runtime"
)

// The remotecommand subprotocols, newest first. v4 reports exit codes as a Status on the error
// stream; v5 (WebSocket only) adds the client's half-close of stdin; v3 adds resizing.
const (
	protoV5 = "v5.channel.k8s.io"
	protoV4 = "v4.channel.k8s.io"
	protoV3 = "v3.channel.k8s.io"
	protoV2 = "v2.channel.k8s.io"
	protoV1 = "channel.k8s.io"

	nonZeroExitCode = metav1.StatusReason("NonZeroExitCode")
	exitCodeCause   = metav1.CauseType("ExitCode")
)

// spdyExecProtocols are those served over SPDY, where half-close is native (so no v5).
var spdyExecProtocols = []string{protoV4, protoV3, protoV2, protoV1}

// wsExecProtocols maps WebSocket subprotocols to the remotecommand version they carry; the
// base64 ones encode frames as text for clients that cannot send binary messages.
var wsExecProtocols = map[string]struct {
	version int
	binary  bool
}{
	protoV5:                    {5, true},
	protoV4:                    {4, true},
	"v4.base64.channel.k8s.io": {4, false},
	protoV3:                    {3, true},
	protoV2:                    {2, true},
	protoV1:                    {1, true},
	"base64.channel.k8s.io":    {1, false},
	"":                         {1, true},
}

func protocolVersion(p string) int {
	switch p {
	case protoV5:
		return 5
	case protoV4:
		return 4
	case protoV3:
		return 3
	case protoV2:
		return 2
	}
	return 1
}

// execOptions are an exec or attach request's query.
type execOptions struct {
	command                    []string
	stdin, stdout, stderr, tty bool
}

func parseExecOptions(r *http.Request, attach bool) (execOptions, error) {
	q := r.URL.Query()
	flag := func(k string) bool {
		v := q.Get(k)
		b, _ := strconv.ParseBool(v)
		return b || v == "1"
	}
	o := execOptions{command: q["command"], stdin: flag("stdin"), stdout: flag("stdout"), stderr: flag("stderr"), tty: flag("tty")}
	if !attach && len(o.command) == 0 {
		return o, errors.New("you must specify at least 1 command")
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, errors.New("you must specify at least 1 of stdin, stdout, stderr")
	}
	if o.tty {
		// The terminal merges the two: there is no separate stderr.
		o.stderr = false
	}
	return o, nil
}

// execStreams are an upgraded connection's streams, whatever the transport.
type execStreams struct {
	version        int
	stdin          io.Reader
	stdout, stderr io.WriteCloser
	errorStream    io.WriteCloser
	resize         io.Reader
}

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request, attach bool) {
	ns, pod, name := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	opts, err := parseExecOptions(r, attach)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	ref, err := s.cfg.Pods.Container(ns, pod, name)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if ref.ID == "" {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is not running", name, pod)))
		return
	}
	verb := "exec"
	if attach {
		verb = "attach"
	}
	if !httpstream.IsUpgradeRequest(r) {
		writeStatus(w, apierrors.NewBadRequest(verb+" needs an upgraded connection (SPDY/3.1 or WebSocket)"))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var streams *execStreams
	var closeConn func()
	if wsstream.IsWebSocketRequest(r) {
		streams, closeConn, err = s.wsExecStreams(w, r, opts, cancel)
	} else {
		streams, closeConn, err = s.spdyExecStreams(w, r, opts, cancel)
	}
	if err != nil {
		s.log.Debug(verb+": streams", "pod", ns+"/"+pod, "container", name, "err", err)
		return
	}
	defer closeConn()
	s.log.Debug(verb, "pod", ns+"/"+pod, "container", name, "websocket", wsstream.IsWebSocketRequest(r), "version", streams.version, "tty", opts.tty)
	// One request shape for both: attach is exec without a command, into the container's own
	// process.
	req := &runtime.ExecRequest{Cmd: opts.command, TTY: opts.tty}
	if opts.stdin {
		req.Stdin = streams.stdin
	}
	if opts.stdout {
		req.Stdout = streams.stdout
	}
	if opts.stderr {
		req.Stderr = streams.stderr
	}
	if opts.tty && streams.resize != nil {
		sizes := make(chan runtime.TerminalSize, 4)
		req.Resize = sizes
		go decodeResizes(ctx, streams.resize, sizes)
	}
	var code int
	if attach {
		err = s.cfg.Runtime.Attach(ctx, ref.ID, &runtime.AttachRequest{Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr, TTY: req.TTY, Resize: req.Resize})
	} else {
		code, err = s.cfg.Runtime.Exec(ctx, ref.ID, req)
	}
	for _, c := range []io.WriteCloser{streams.stdout, streams.stderr} {
		if c != nil {
			c.Close()
		}
	}
	if err != nil && ctx.Err() != nil {
		return // the client went away
	}
	if werr := writeExecResult(streams.errorStream, streams.version, code, err); werr != nil {
		s.log.Debug("exec: writing the result", "err", werr)
	}
	streams.errorStream.Close()
}

// writeExecResult reports how the process ended: from v4 on a Status (NonZeroExitCode carrying
// the code as a cause), before it plain text.
func writeExecResult(w io.Writer, version, code int, err error) error {
	if version < 4 {
		switch {
		case err != nil:
			_, werr := io.WriteString(w, err.Error())
			return werr
		case code != 0:
			_, werr := fmt.Fprintf(w, "command terminated with non-zero exit code: exit status %d", code)
			return werr
		}
		return nil
	}
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}
	switch {
	case err != nil:
		st = statusOf(err).ErrStatus
		st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
		if errors.Is(err, runtime.ErrNotFound) || errors.Is(err, runtime.ErrFailedPrecondition) {
			st.Message = "container not running: " + err.Error()
		}
	case code != 0:
		st.Status, st.Reason = metav1.StatusFailure, nonZeroExitCode
		st.Message = fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code)
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: exitCodeCause, Message: strconv.Itoa(code)}}}
	}
	return json.NewEncoder(w).Encode(&st)
}

// decodeResizes turns the client's JSON terminal sizes into the runtime's channel.
func decodeResizes(ctx context.Context, r io.Reader, out chan<- runtime.TerminalSize) {
	defer close(out)
	dec := json.NewDecoder(r)
	for {
		var size struct{ Width, Height uint16 }
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case out <- runtime.TerminalSize{Width: size.Width, Height: size.Height}:
		case <-ctx.Done():
			return
		}
	}
}

// spdyStream is a stream the client opened and when its reply went out.
type spdyStream struct {
	stream    httpstream.Stream
	replySent <-chan struct{}
}

// acceptStreams is a NewStreamHandler handing streams to a channel. The connection calls it from
// its frame loop, so it must never block: a client opening more streams than the protocol has is
// refused.
func acceptStreams(ch chan<- spdyStream) httpstream.NewStreamHandler {
	return func(st httpstream.Stream, replySent <-chan struct{}) error {
		select {
		case ch <- spdyStream{st, replySent}:
			return nil
		default:
			return errors.New("too many streams")
		}
	}
}

func (s *Server) spdyExecStreams(w http.ResponseWriter, r *http.Request, opts execOptions, cancel func()) (*execStreams, func(), error) {
	proto, err := httpstream.Handshake(r, w, spdyExecProtocols)
	if err != nil {
		return nil, nil, err // Handshake answered the client
	}
	ch := make(chan spdyStream, 8)
	conn := spdy.NewResponseUpgraderWithPings(0).UpgradeResponse(w, r, acceptStreams(ch))
	if conn == nil {
		return nil, nil, errors.New("SPDY upgrade failed")
	}
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	go func() {
		<-conn.CloseChan()
		cancel()
	}()
	streams := &execStreams{version: protocolVersion(proto)}
	expected := 1 // the error stream
	for _, b := range []bool{opts.stdin, opts.stdout, opts.stderr, opts.tty && streams.version >= 3} {
		if b {
			expected++
		}
	}
	timeout := time.NewTimer(s.cfg.StreamCreationTimeout)
	defer timeout.Stop()
	var replies []<-chan struct{}
	for got := 0; got < expected; {
		select {
		case st := <-ch:
			got++
			replies = append(replies, st.replySent)
			switch t := st.stream.Headers().Get(corev1.StreamType); t {
			case corev1.StreamTypeError:
				streams.errorStream = st.stream
			case corev1.StreamTypeStdin:
				streams.stdin = st.stream
			case corev1.StreamTypeStdout:
				streams.stdout = st.stream
			case corev1.StreamTypeStderr:
				streams.stderr = st.stream
			case corev1.StreamTypeResize:
				streams.resize = st.stream
			default:
				conn.Close()
				return nil, nil, fmt.Errorf("unexpected stream type %q", t)
			}
		case <-timeout.C:
			conn.Close()
			return nil, nil, errors.New("timed out waiting for the client's streams")
		case <-conn.CloseChan():
			return nil, nil, errors.New("connection closed before the streams were opened")
		}
	}
	for _, rs := range replies {
		select {
		case <-rs:
		case <-timeout.C:
			conn.Close()
			return nil, nil, errors.New("timed out replying to the client's streams")
		}
	}
	if streams.errorStream == nil {
		conn.Close()
		return nil, nil, errors.New("the client opened no error stream")
	}
	// A client that did not open a stream it asked for gets nothing on it.
	return streams, func() { conn.Close() }, nil
}

func (s *Server) wsExecStreams(w http.ResponseWriter, r *http.Request, opts execOptions, cancel func()) (*execStreams, func(), error) {
	channels := []wsstream.ChannelType{wsstream.IgnoreChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.ReadChannel}
	if opts.stdin {
		channels[0] = wsstream.ReadChannel
	}
	protocols := map[string]wsstream.ChannelProtocolConfig{}
	for p, v := range wsExecProtocols {
		protocols[p] = wsstream.ChannelProtocolConfig{Binary: v.binary, Channels: channels}
	}
	conn := wsstream.NewConn(protocols)
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	proto, ch, err := conn.Open(&closeNotifier{ResponseWriter: w, onClose: cancel}, r)
	if err != nil {
		return nil, nil, err
	}
	streams := &execStreams{
		version: wsExecProtocols[proto].version,
		stdin:   ch[0], stdout: ch[1], stderr: ch[2], errorStream: ch[3], resize: ch[4],
	}
	if streams.version < 3 {
		streams.resize = nil
	}
	// Closing a write channel means nothing on a WebSocket: the connection's close ends them all.
	streams.stdout, streams.stderr, streams.errorStream = nopCloser{ch[1]}, nopCloser{ch[2]}, nopCloser{ch[3]}
	return streams, func() { conn.Close(); cancel() }, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// closeNotifier hands the WebSocket library a connection that reports when reading it fails:
// the client went away, and a process it started must not outlive it (wsstream says nothing).
type closeNotifier struct {
	http.ResponseWriter
	onClose func()
}

func (c *closeNotifier) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(c.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	nc := &notifyingConn{Conn: conn, onClose: c.onClose}
	// Bytes the server already buffered come first, then the wrapped connection.
	buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
	r := bufio.NewReader(io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), nc))
	return nc, bufio.NewReadWriter(r, rw.Writer), nil
}

type notifyingConn struct {
	net.Conn
	onClose func()
	once    sync.Once
}

func (c *notifyingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.once.Do(c.onClose)
	}
	return n, err
}

func (c *notifyingConn) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}
