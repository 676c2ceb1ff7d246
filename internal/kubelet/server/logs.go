package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-dev/skiff/internal/runtime"
)

// LogOptions are a container log request's options, those of PodLogOptions.
type LogOptions struct {
	Follow     bool
	Previous   bool
	Timestamps bool
	// TailLines < 0 means every line.
	TailLines int64
	// Since, when set, skips lines written before it.
	Since time.Time
	// LimitBytes > 0 stops the output after that many bytes.
	LimitBytes int64
	// Stream is "" or "All" (both), "Stdout" or "Stderr".
	Stream string
}

// parseLogOptions reads the query the API server forwards from PodLogOptions.
func parseLogOptions(q map[string][]string, now time.Time) (LogOptions, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	o := LogOptions{TailLines: -1}
	var err error
	boolean := func(k string) bool {
		v := get(k)
		if v == "" {
			return false
		}
		b, perr := strconv.ParseBool(v)
		if perr != nil && err == nil {
			err = fmt.Errorf("%s: %q is not a boolean", k, v)
		}
		return b
	}
	o.Follow, o.Previous, o.Timestamps = boolean("follow"), boolean("previous"), boolean("timestamps")
	if err != nil {
		return o, err
	}
	if v := get("tailLines"); v != "" {
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < 0 {
			return o, fmt.Errorf("tailLines: %q must be a non-negative integer", v)
		}
		o.TailLines = n
	}
	if v := get("limitBytes"); v != "" {
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < 1 {
			return o, fmt.Errorf("limitBytes: %q must be a positive integer", v)
		}
		o.LimitBytes = n
	}
	secs, at := get("sinceSeconds"), get("sinceTime")
	if secs != "" && at != "" {
		return o, errors.New("at most one of sinceTime or sinceSeconds may be specified")
	}
	if secs != "" {
		n, perr := strconv.ParseInt(secs, 10, 64)
		if perr != nil || n < 1 {
			return o, fmt.Errorf("sinceSeconds: %q must be a positive integer", secs)
		}
		o.Since = now.Add(-time.Duration(n) * time.Second)
	}
	if at != "" {
		t, perr := time.Parse(time.RFC3339, at)
		if perr != nil {
			return o, fmt.Errorf("sinceTime: %q is not an RFC 3339 time", at)
		}
		o.Since = t
	}
	switch s := get("stream"); s {
	case "", "All", "Stdout", "Stderr":
		o.Stream = s
	default:
		return o, fmt.Errorf("stream: %q must be All, Stdout or Stderr", s)
	}
	if o.Stream != "" && o.Stream != "All" && o.TailLines >= 0 {
		return o, errors.New("tailLines cannot be combined with a single stream")
	}
	return o, nil
}

func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, name := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	opts, err := parseLogOptions(r.URL.Query(), time.Now())
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	ref, err := s.cfg.Pods.Container(ns, pod, name)
	if err != nil {
		writeStatus(w, err)
		return
	}
	path, id := ref.LogPath, ref.ID
	if opts.Previous {
		if ref.PreviousLogPath == "" {
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", name, pod)))
			return
		}
		// A terminated attempt has nothing more to say.
		path, id = ref.PreviousLogPath, ""
	}
	if path == "" {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start", name, pod)))
		return
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q has no log yet", name, pod)))
			return
		}
		writeStatus(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	var follow func(ctx context.Context) bool
	if opts.Follow && id != "" {
		follow = func(ctx context.Context) bool {
			st, err := s.cfg.Runtime.ContainerStatus(ctx, id)
			return err == nil && st.State == runtime.ContainerRunning
		}
	}
	if err := CopyLog(r.Context(), w, f, path, opts, follow, s.cfg.LogPollInterval); err != nil && !errors.Is(err, errLimitReached) && r.Context().Err() == nil {
		s.log.Debug("serving container log", "pod", ns+"/"+pod, "container", name, "err", err)
	}
}

var errLimitReached = errors.New("limitBytes reached")

// CopyLog writes the messages of the CRI log file f (opened from path) to w as kubectl shows
// them, honouring opts, and closes f. With opts.Follow and running non-nil, it keeps reading appended lines
// (also across a rotation that renamed path and created it anew) until running reports false or
// ctx ends. w is flushed after each line when it is an http.Flusher.
func CopyLog(ctx context.Context, w io.Writer, f *os.File, path string, opts LogOptions, running func(context.Context) bool, poll time.Duration) error {
	defer func() { f.Close() }()
	lw := &logWriter{w: w, opts: opts}
	if fl, ok := w.(http.Flusher); ok && opts.Follow {
		lw.flush = fl.Flush
	}
	if opts.TailLines >= 0 {
		off, err := tailOffset(f, opts)
		if err != nil {
			return err
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
	}
	rd := bufio.NewReaderSize(f, 64<<10)
	var pending []byte // a line read without its newline: the writer is mid-write
	drain := func() error {
		for {
			line, err := rd.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				pending = append(pending, line...)
				continue
			}
			if err == io.EOF {
				pending = append(pending, line...)
				return nil
			}
			if err != nil {
				return err
			}
			if len(pending) > 0 {
				line = append(pending, line...)
				pending = pending[:0]
			}
			if err := lw.line(line); err != nil {
				return err
			}
		}
	}
	if err := drain(); err != nil {
		return err
	}
	if !opts.Follow || running == nil {
		return lw.end(pending)
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		alive := running(ctx)
		if err := drain(); err != nil {
			return err
		}
		if rotated(f, path) {
			nf, err := os.Open(path)
			if err == nil {
				// The old file may have got lines between the last read and the rename.
				if err := drain(); err != nil {
					nf.Close()
					return err
				}
				if len(pending) > 0 {
					if err := lw.line(pending); err != nil {
						nf.Close()
						return err
					}
					pending = pending[:0]
				}
				f.Close()
				f = nf
				rd.Reset(f)
				if err := drain(); err != nil {
					return err
				}
			}
		}
		if !alive {
			// The runtime flushes a container's output before reporting it exited.
			if err := drain(); err != nil {
				return err
			}
			return lw.end(pending)
		}
	}
}

// rotated reports whether path now names a file other than f (the writer reopened it).
func rotated(f *os.File, path string) bool {
	cur, err := os.Stat(path)
	if err != nil {
		return false
	}
	old, err := f.Stat()
	return err == nil && !os.SameFile(cur, old)
}

// tailOffset finds where the last opts.TailLines lines (of those opts.Since admits) begin.
// Partial records belong to the line their final record ends.
func tailOffset(f *os.File, opts LogOptions) (int64, error) {
	n := opts.TailLines
	if n == 0 {
		end, err := f.Seek(0, io.SeekEnd)
		return end, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	ring := make([]int64, 0, min(n, 4096))
	head := 0 // oldest entry once the ring is full
	var off, start int64
	startSet := false
	rd := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if !startSet {
				start, startSet = off, true
			}
			l, perr := runtime.ParseLogLine(line)
			if perr != nil || !l.Partial {
				if perr == nil && (opts.Since.IsZero() || !l.Time.Before(opts.Since)) {
					if int64(len(ring)) < n {
						ring = append(ring, start)
					} else {
						ring[head] = start
						head = (head + 1) % len(ring)
					}
				}
				startSet = false
			}
			off += int64(len(line))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if len(ring) == 0 {
		return off, nil
	}
	if int64(len(ring)) < n {
		return ring[0], nil
	}
	return ring[head], nil
}

// logWriter turns CRI records into the bytes kubectl shows: messages, partial records joined,
// optionally prefixed by their timestamp.
type logWriter struct {
	w       io.Writer
	opts    LogOptions
	flush   func()
	written int64
	// partial holds the records of a line not ended yet, per stream.
	partial map[string]*partialLine
}

type partialLine struct {
	t   time.Time
	buf []byte
}

func (lw *logWriter) line(b []byte) error {
	l, err := runtime.ParseLogLine(b)
	if err != nil {
		return nil // a torn or foreign line is not worth ending the stream over
	}
	if (lw.opts.Stream == "Stdout" && l.Stream != "stdout") || (lw.opts.Stream == "Stderr" && l.Stream != "stderr") {
		return nil
	}
	if l.Partial {
		if lw.partial == nil {
			lw.partial = map[string]*partialLine{}
		}
		p := lw.partial[l.Stream]
		if p == nil {
			p = &partialLine{t: l.Time}
			lw.partial[l.Stream] = p
		}
		p.buf = append(p.buf, l.Content...)
		return nil
	}
	t, content := l.Time, l.Content
	if p := lw.partial[l.Stream]; p != nil {
		t, content = p.t, append(p.buf, content...)
		delete(lw.partial, l.Stream)
	}
	return lw.emit(t, content, true)
}

// end writes what is left when no more lines will come: partial records and an unterminated last
// line.
func (lw *logWriter) end(pending []byte) error {
	if len(bytes.TrimSpace(pending)) > 0 {
		if err := lw.line(pending); err != nil {
			return err
		}
	}
	for stream, p := range lw.partial {
		delete(lw.partial, stream)
		if err := lw.emit(p.t, p.buf, false); err != nil {
			return err
		}
	}
	return nil
}

func (lw *logWriter) emit(t time.Time, content []byte, newline bool) error {
	if !lw.opts.Since.IsZero() && t.Before(lw.opts.Since) {
		return nil
	}
	var out []byte
	if lw.opts.Timestamps {
		out = t.UTC().AppendFormat(out, time.RFC3339Nano)
		out = append(out, ' ')
	}
	out = append(out, content...)
	if newline {
		out = append(out, '\n')
	}
	limited := false
	if lw.opts.LimitBytes > 0 && lw.written+int64(len(out)) >= lw.opts.LimitBytes {
		out = out[:lw.opts.LimitBytes-lw.written]
		limited = true
	}
	n, err := lw.w.Write(out)
	lw.written += int64(n)
	if err != nil {
		return err
	}
	if lw.flush != nil {
		lw.flush()
	}
	if limited {
		return errLimitReached
	}
	return nil
}
