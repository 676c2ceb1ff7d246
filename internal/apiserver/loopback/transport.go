package loopback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

// RemoteAddr is the peer address handlers see on an in-process request.
const RemoteAddr = "127.0.0.1:0"

// ErrUpgrade is returned for requests asking for a protocol upgrade (SPDY, WebSocket), which need
// a connection an in-process call does not have.
var ErrUpgrade = errors.New("loopback: protocol upgrades are not served in-process")

// errPanicked ends a response whose handler panicked after its headers were handed over.
var errPanicked = errors.New("loopback: the handler panicked while writing the response")

// errBodyClosed is what reading a closed body returns, as net/http's client does.
var errBodyClosed = errors.New("loopback: read on closed response body")

// Transport serves requests by calling Handler in this process, authenticated as User (see
// Authenticator). Each request runs the handler on a goroutine of its own; the response is
// returned once the handler flushed, wrote more than a buffer's worth or returned, and its body
// streams what the handler writes after that.
type Transport struct {
	Handler http.Handler
	// User is who the requests are made as: a certificate's common name and organizations.
	User admission.UserInfo
	// Logger reports handler panics (default slog.Default()).
	Logger *slog.Logger

	once sync.Once
	user admission.UserInfo
	log  *slog.Logger
}

// publishAt is how many unflushed bytes a handler writes before the reader gets them (the
// response is handed over then, and streams), as a server's write buffer would send them.
const publishAt = 32 << 10

// maxUnread is how far a handler may run ahead of the reader before its writes block.
const maxUnread = 4 << 20

// maxPooled is the largest body buffer kept for reuse.
const maxPooled = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.once.Do(func() {
		t.user = t.User
		if !slices.Contains(t.user.Groups, authenticatedGroup) {
			t.user.Groups = append(slices.Clip(t.user.Groups), authenticatedGroup)
		}
		t.log = t.Logger
		if t.log == nil {
			t.log = slog.Default()
		}
	})
	if t.Handler == nil {
		closeBody(req)
		return nil, errors.New("loopback: no handler")
	}
	if req.URL == nil {
		closeBody(req)
		return nil, errors.New("loopback: request without a URL")
	}
	if isUpgrade(req.Header) {
		closeBody(req)
		return nil, ErrUpgrade
	}
	if err := req.Context().Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	ctx, cancel := context.WithCancel(withCaller(req.Context(), t.user))
	sreq := serverRequest(ctx, req)

	p := &pipe{}
	p.cond.L = &p.mu
	p.buf = *(bufPool.Get().(*[]byte))
	p.cancel = cancel
	// A canceled request ends the body as net/http's would, even while the handler keeps writing.
	p.stop = context.AfterFunc(req.Context(), func() { p.abort(req.Context().Err()) })
	w := &responseWriter{req: req, head: req.Method == http.MethodHead, header: http.Header{}, pipe: p, ready: make(chan struct{})}
	go t.serve(w, sreq, cancel)
	select {
	case <-w.ready:
		return w.resp, nil
	case <-req.Context().Done():
		// The handler is told through its context; its writes fail from now on.
		p.Close()
		return nil, req.Context().Err()
	}
}

// serverRequest is req as a server's handler would receive it.
func serverRequest(ctx context.Context, req *http.Request) *http.Request {
	r := req.WithContext(ctx) // shallow: handlers do not change the request's header
	u := &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	r.URL = u
	r.RequestURI = u.RequestURI()
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.RemoteAddr = RemoteAddr
	r.TLS = nil
	r.Close = false
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	r.GetBody = nil
	if req.Body == nil || req.Body == http.NoBody {
		r.Body, r.ContentLength = http.NoBody, 0
	} else if req.ContentLength == 0 {
		r.ContentLength = -1 // a client's 0 with a body means unknown
	}
	return r
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// isUpgrade says whether h asks for a protocol switch.
func isUpgrade(h http.Header) bool {
	if h.Get("Upgrade") != "" {
		return true
	}
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// serve runs the handler and ends the response however the handler ends.
func (t *Transport) serve(w *responseWriter, r *http.Request, cancel context.CancelFunc) {
	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			t.log.Error("panic serving an in-process request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
		}
		w.finish(p)
		// As a server does once the handler returned (the body is buffered by now).
		cancel()
		if r.Body != nil {
			r.Body.Close()
		}
	}()
	t.Handler.ServeHTTP(w, r)
}

// responseWriter hands the response to RoundTrip (closing ready) when the handler flushes, fills
// the buffer or returns. Its fields belong to the handler's goroutine; resp is read by RoundTrip
// only after ready is closed.
type responseWriter struct {
	req     *http.Request
	head    bool
	header  http.Header
	status  int
	pipe    *pipe
	ready   chan struct{}
	resp    *http.Response
	handed  bool
	written int64
}

func (w *responseWriter) Header() http.Header {
	if w.header == nil { // handed over: later changes are ignored, as a server ignores them
		w.header = http.Header{}
	}
	return w.header
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 || code < 200 { // informational responses are not passed on
		return
	}
	if code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	w.status = code
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.head || !bodyAllowed(w.status) {
		if w.head {
			return len(b), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.written == 0 && len(b) > 0 && !w.handed {
		if _, set := w.header["Content-Type"]; !set && w.header.Get("Content-Encoding") == "" {
			w.header.Set("Content-Type", http.DetectContentType(b))
		}
	}
	w.written += int64(len(b))
	unpublished, err := w.pipe.write(b)
	if err != nil {
		return 0, err
	}
	if unpublished >= publishAt {
		w.handOver(false)
		w.pipe.publish()
	}
	return len(b), nil
}

// Flush implements http.Flusher: what was written reaches the reader now (watch events).
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.handOver(false)
	w.pipe.publish()
}

// FlushError is what http.ResponseController calls: Flush, reporting a closed body.
func (w *responseWriter) FlushError() error {
	w.Flush()
	return w.pipe.writeErr()
}

// handOver gives RoundTrip the response; done says the handler returned, so the whole body is
// buffered and its length known.
func (w *responseWriter) handOver(done bool) {
	if w.handed {
		return
	}
	w.handed = true
	h := w.header
	w.header = nil
	h.Del("Transfer-Encoding") // hop-by-hop: how the server framed the body, nothing to a client
	resp := &http.Response{
		Status: strconv.Itoa(w.status) + " " + http.StatusText(w.status), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Request: w.req, ContentLength: -1,
	}
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	switch {
	case done && w.written == 0:
		resp.ContentLength = 0
		resp.Body = http.NoBody
		w.pipe.Close()
	case done:
		resp.ContentLength = w.written
		resp.Body = w.pipe
	default:
		resp.Body = w.pipe
	}
	if w.head {
		resp.Body = http.NoBody
		w.pipe.Close()
	}
	w.resp = resp
	close(w.ready)
}

// finish ends the response once the handler returned, or panicked with p.
func (w *responseWriter) finish(p any) {
	if p == nil {
		if w.status == 0 {
			w.WriteHeader(http.StatusOK)
		}
		w.pipe.closeWrite(io.EOF)
		w.handOver(true)
		return
	}
	if w.handed {
		w.pipe.closeWrite(errPanicked)
		return
	}
	// Nothing reached the client yet: answer 500 instead of what the handler began.
	w.pipe.closeWrite(errPanicked)
	w.pipe.Close()
	w.handed = true
	msg := fmt.Sprintf("loopback: the handler panicked: %v", p)
	if p == http.ErrAbortHandler {
		msg = "loopback: the handler aborted the response"
	}
	w.resp = &http.Response{
		Status: "500 " + http.StatusText(500), StatusCode: 500, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:          io.NopCloser(strings.NewReader(msg)),
		ContentLength: int64(len(msg)), Request: w.req,
	}
	close(w.ready)
}

// bodyAllowed reports whether a response with status may have a body (RFC 9110).
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && (status < 100 || status > 199)
}

// pipe carries a response body from the handler to the reader: the handler appends, publishes
// (flush, full buffer, return) and the reader reads what is published. One buffer, one lock: a
// response written at once costs no goroutine hop per write.
type pipe struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte
	off  int // read up to here
	pub  int // published up to here

	werr   error // set when the handler is done: io.EOF or why it failed
	closed bool  // the reader closed the body
	aerr   error // the request was canceled

	cancel context.CancelFunc
	stop   func() bool
}

// write appends b and returns how much is unpublished.
func (p *pipe) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.writeErrLocked(); err != nil {
		return 0, err
	}
	if p.off > 0 && p.off == p.pub && p.pub == len(p.buf) {
		p.buf, p.off, p.pub = p.buf[:0], 0, 0
	}
	p.buf = append(p.buf, b...)
	// Backpressure: a handler far ahead of its reader waits (published data only, so that the
	// reader can drain it).
	for len(p.buf)-p.off > maxUnread && p.pub > p.off && p.writeErrLocked() == nil {
		p.cond.Wait()
	}
	if err := p.writeErrLocked(); err != nil {
		return 0, err
	}
	return len(p.buf) - p.pub, nil
}

func (p *pipe) publish() {
	p.mu.Lock()
	if p.pub != len(p.buf) {
		p.pub = len(p.buf)
		p.cond.Broadcast()
	}
	// A handler far ahead of its reader waits for it.
	for p.pub-p.off > maxUnread && p.writeErrLocked() == nil {
		p.cond.Wait()
	}
	p.mu.Unlock()
}

func (p *pipe) writeErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writeErrLocked()
}

func (p *pipe) writeErrLocked() error {
	switch {
	case p.closed:
		return errBodyClosed
	case p.aerr != nil:
		return p.aerr
	}
	return nil
}

// closeWrite ends the body: err is io.EOF for a complete one.
func (p *pipe) closeWrite(err error) {
	p.mu.Lock()
	if p.werr == nil {
		p.werr = err
		if err == io.EOF {
			p.pub = len(p.buf)
		}
		p.cond.Broadcast()
	}
	p.mu.Unlock()
}

// abort ends the body because the request was canceled.
func (p *pipe) abort(err error) {
	p.mu.Lock()
	if p.aerr == nil {
		p.aerr = err
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	p.cancel()
}

// Read implements io.Reader for the response body.
func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.closed:
			return 0, errBodyClosed
		case p.off < p.pub:
			n := copy(b, p.buf[p.off:p.pub])
			p.off += n
			if len(p.buf)-p.off <= maxUnread {
				p.cond.Broadcast() // a writer waiting for room
			}
			return n, nil
		case p.aerr != nil: // canceled: even a handler that then returned did not finish
			return 0, p.aerr
		case p.werr != nil:
			return 0, p.werr
		}
		p.cond.Wait()
	}
}

// Close implements io.Closer for the response body: the handler's context ends (a watch stops)
// and its writes fail from now on.
func (p *pipe) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cond.Broadcast()
	// The buffer is reused only once the handler is done with it.
	if p.werr != nil && cap(p.buf) <= maxPooled {
		b := p.buf[:0]
		bufPool.Put(&b)
	}
	p.buf, p.off, p.pub = nil, 0, 0
	p.mu.Unlock()
	p.stop()
	p.cancel()
	return nil
}
