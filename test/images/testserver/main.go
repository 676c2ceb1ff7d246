package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const usage = `usage: testserver [serve] [-port N] [-listen ADDR] [-start-delay D] [-term-delay D]
       testserver sleep DURATION|SECONDS
       testserver exit CODE
       testserver write PATH DATA        (DATA "-" reads stdin)
       testserver append PATH DATA
       testserver cat PATH
       testserver wait-file PATH [TIMEOUT]
       testserver env [NAME]
       testserver hostname
       testserver echo WORDS...
       testserver fetch URL
       testserver alloc MEGABYTES        (touches the memory, then sleeps)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run returns the process exit code rather than exiting so that tests drive every subcommand
// in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return serve(args, stdout, stderr)
	}
	cmd, rest := args[0], args[1:]
	need := func(n int) bool {
		if len(rest) < n {
			fmt.Fprintf(stderr, "testserver %s: want %d argument(s)\n%s", cmd, n, usage)
			return false
		}
		return true
	}
	switch cmd {
	case "serve":
		return serve(rest, stdout, stderr)
	case "sleep":
		if !need(1) {
			return 2
		}
		d, err := parseDuration(rest[0])
		if err != nil {
			fmt.Fprintln(stderr, "testserver sleep:", err)
			return 2
		}
		time.Sleep(d)
		return 0
	case "exit":
		if !need(1) {
			return 2
		}
		code, err := strconv.Atoi(rest[0])
		if err != nil || code < 0 || code > 255 {
			fmt.Fprintf(stderr, "testserver exit: bad code %q\n", rest[0])
			return 2
		}
		return code
	case "write", "append":
		if !need(2) {
			return 2
		}
		var data []byte
		if rest[1] == "-" {
			b, err := io.ReadAll(stdin)
			if err != nil {
				fmt.Fprintln(stderr, "testserver", cmd+":", err)
				return 1
			}
			data = b
		} else {
			data = []byte(rest[1])
		}
		if err := writeFile(rest[0], data, cmd == "append"); err != nil {
			fmt.Fprintln(stderr, "testserver", cmd+":", err)
			return 1
		}
		return 0
	case "cat":
		if !need(1) {
			return 2
		}
		b, err := os.ReadFile(rest[0])
		if err != nil {
			fmt.Fprintln(stderr, "testserver cat:", err)
			return 1
		}
		stdout.Write(b)
		return 0
	case "wait-file":
		if !need(1) {
			return 2
		}
		timeout := time.Duration(0)
		if len(rest) > 1 {
			d, err := parseDuration(rest[1])
			if err != nil {
				fmt.Fprintln(stderr, "testserver wait-file:", err)
				return 2
			}
			timeout = d
		}
		return waitFile(rest[0], timeout, stderr)
	case "env":
		if len(rest) > 0 {
			v, ok := os.LookupEnv(rest[0])
			if !ok {
				fmt.Fprintf(stderr, "testserver env: %s is not set\n", rest[0])
				return 1
			}
			fmt.Fprintln(stdout, v)
			return 0
		}
		io.WriteString(stdout, sortedEnv())
		return 0
	case "hostname":
		h, err := os.Hostname()
		if err != nil {
			fmt.Fprintln(stderr, "testserver hostname:", err)
			return 1
		}
		fmt.Fprintln(stdout, h)
		return 0
	case "echo":
		fmt.Fprintln(stdout, strings.Join(rest, " "))
		return 0
	case "fetch":
		if !need(1) {
			return 2
		}
		return fetch(rest[0], stdout, stderr)
	case "alloc":
		if !need(1) {
			return 2
		}
		mb, err := strconv.Atoi(rest[0])
		if err != nil || mb <= 0 {
			fmt.Fprintf(stderr, "testserver alloc: bad size %q\n", rest[0])
			return 2
		}
		hold := alloc(mb)
		fmt.Fprintf(stdout, "allocated %d MiB\n", mb)
		for {
			time.Sleep(time.Hour)
			_ = hold[0]
		}
	case "help", "-h", "--help":
		io.WriteString(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "testserver: unknown command %q\n%s", cmd, usage)
	return 2
}

// parseDuration accepts bare seconds as well as Go durations, since shell-minded tests write
// "sleep 5".
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, err
}

func writeFile(path string, data []byte, appendTo bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func waitFile(path string, timeout time.Duration, stderr io.Writer) int {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if _, err := os.Stat(path); err == nil {
			return 0
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			fmt.Fprintf(stderr, "testserver wait-file: %s did not appear within %s\n", path, timeout)
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sortedEnv() string {
	env := os.Environ()
	sort.Strings(env)
	var b strings.Builder
	for _, kv := range env {
		b.WriteString(kv)
		b.WriteByte('\n')
	}
	return b.String()
}

func fetch(url string, stdout, stderr io.Writer) int {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(stderr, "testserver fetch:", err)
		return 1
	}
	defer resp.Body.Close()
	io.Copy(stdout, resp.Body)
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "testserver fetch: %s\n", resp.Status)
		return 1
	}
	return 0
}

// alloc touches every page so the memory is charged to the cgroup: untouched pages would never
// trigger the OOM killer that memory-limit tests wait for.
func alloc(mb int) [][]byte {
	chunks := make([][]byte, 0, mb)
	for i := 0; i < mb; i++ {
		c := make([]byte, 1<<20)
		for j := 0; j < len(c); j += 4096 {
			c[j] = 1
		}
		chunks = append(chunks, c)
	}
	return chunks
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defPort := 8080
	if p, err := strconv.Atoi(os.Getenv("PORT")); err == nil && p > 0 {
		defPort = p
	}
	port := fs.Int("port", defPort, "TCP port to listen on (default from $PORT, else 8080)")
	listen := fs.String("listen", "", "address to listen on (default all)")
	startDelay := fs.Duration("start-delay", 0, "wait this long before listening, as a slow-starting app does")
	termDelay := fs.Duration("term-delay", 0, "on SIGTERM, keep serving this long before exiting")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "testserver serve: unexpected arguments %q\n", fs.Args())
		return 2
	}

	log := &lockedWriter{w: stdout}
	codes := make(chan int, 1)
	s := newServer(log, func(code int) {
		select {
		case codes <- code:
		default:
		}
	})

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	if *startDelay > 0 {
		fmt.Fprintf(log, "starting in %s\n", *startDelay)
		select {
		case <-time.After(*startDelay):
		case sig := <-sigs:
			fmt.Fprintf(log, "received %s before listening, exiting\n", sig)
			return 0
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*listen, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(stderr, "testserver:", err)
		return 1
	}
	fmt.Fprintf(log, "listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		fmt.Fprintln(stderr, "testserver:", err)
		return 1
	case code := <-codes:
		// Let the /exit response reach the client before the process goes away.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		srv.Shutdown(ctx)
		cancel()
		fmt.Fprintf(log, "exiting with code %d\n", code)
		return code
	case sig := <-sigs:
		fmt.Fprintf(log, "received %s\n", sig)
		if *termDelay > 0 {
			fmt.Fprintf(log, "serving %s more before exiting\n", *termDelay)
			time.Sleep(*termDelay)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		cancel()
		fmt.Fprintln(log, "exiting")
		return 0
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type server struct {
	log     io.Writer
	exit    func(code int)
	failing map[string]*atomic.Bool
}

// probeNames are the health endpoints a test can make fail independently: liveness on one,
// readiness on the other, so that one scenario can exercise each probe alone.
var probeNames = []string{"healthz", "readyz"}

func newServer(log io.Writer, exit func(int)) *server {
	s := &server{log: log, exit: exit, failing: map[string]*atomic.Bool{}}
	for _, p := range probeNames {
		s.failing[p] = new(atomic.Bool)
	}
	return s
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		h, _ := os.Hostname()
		fmt.Fprintf(w, "testserver on %s\n", h)
	})
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, r *http.Request) {
		h, err := os.Hostname()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, h)
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		if name := r.URL.Query().Get("name"); name != "" {
			v, ok := os.LookupEnv(name)
			if !ok {
				http.Error(w, name+" is not set", http.StatusNotFound)
				return
			}
			fmt.Fprintln(w, v)
			return
		}
		io.WriteString(w, sortedEnv())
	})
	for _, p := range probeNames {
		failing := s.failing[p]
		mux.HandleFunc("/"+p, func(w http.ResponseWriter, r *http.Request) {
			if failing.Load() {
				http.Error(w, "failing", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok\n")
		})
	}
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) { s.setFailing(w, r, true) })
	mux.HandleFunc("POST /recover", func(w http.ResponseWriter, r *http.Request) { s.setFailing(w, r, false) })
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil || code < 0 || code > 255 {
			http.Error(w, "code must be 0..255", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "exiting with code %d\n", code)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		s.exit(code)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		path := q.Get("path")
		if path == "" {
			http.Error(w, "path is required", http.StatusBadRequest)
			return
		}
		var data []byte
		if q.Has("data") {
			data = []byte(q.Get("data"))
		} else {
			b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			data = b
		}
		if err := writeFile(path, data, q.Get("append") == "true"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "wrote %d bytes to %s\n", len(data), path)
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Query().Get("path")
		if path == "" {
			http.Error(w, "path is required", http.StatusBadRequest)
			return
		}
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			http.Error(w, err.Error(), http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			w.Write(b)
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(b) == 0 {
			b = []byte(r.URL.Query().Get("msg"))
		}
		w.Write(b)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(s.log, "%s %s from %s\n", r.Method, r.URL.RequestURI(), r.RemoteAddr)
		mux.ServeHTTP(w, r)
	})
}

func (s *server) setFailing(w http.ResponseWriter, r *http.Request, failing bool) {
	probe := r.URL.Query().Get("probe")
	if probe == "" {
		probe = "healthz"
	}
	b, ok := s.failing[probe]
	if !ok {
		http.Error(w, fmt.Sprintf("unknown probe %q (want one of %v)", probe, probeNames), http.StatusBadRequest)
		return
	}
	b.Store(failing)
	state := "recovered"
	if failing {
		state = "failing"
	}
	fmt.Fprintf(w, "/%s %s\n", probe, state)
}
