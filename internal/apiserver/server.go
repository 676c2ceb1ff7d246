package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/auth"
	"github.com/skiff-dev/skiff/internal/apiserver/loopback"
	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/storage"
	"github.com/skiff-dev/skiff/internal/version"
)

// MaxRequestBodyBytes is the largest request body accepted (upstream's limit, 3 MiB).
const MaxRequestBodyBytes = 3 << 20

// Config is what an API server needs.
type Config struct {
	Store     *storage.Store
	Resources []*registry.Resource
	Admission *admission.Chain

	// Listener, when set, is used instead of listening on BindAddress:Port (tests pass a port-0
	// listener to avoid collisions).
	Listener    net.Listener
	BindAddress string
	Port        int
	// ServingCert is the server's certificate; ClientCA verifies client certificates.
	ServingCert tls.Certificate
	ClientCA    *x509.CertPool

	// Authenticator identifies callers (default: in-process callers through loopback.Transport,
	// then client certificates verified against ClientCA).
	Authenticator auth.Authenticator
	Authorizer    auth.Authorizer

	// OpenAPI, when set, serves /openapi/v2 and /openapi/v3/....
	OpenAPI http.Handler

	// Hooks add resource-specific steps that need storage beyond the object itself (allocating a
	// Service's ClusterIP and NodePorts), keyed by group/resource.
	Hooks map[schema.GroupResource]ResourceHooks

	// Eviction, when set, decides whether a pod may be evicted (PodDisruptionBudgets); it returns a
	// 429 error when not.
	Eviction func(ctx context.Context, namespace, name string, dryRun bool) error

	// KubeletClient reaches node agents for pods/log, exec, attach and portforward; nil refuses
	// those requests with 503.
	KubeletClient *KubeletClient

	// Profiling serves Go's pprof handlers at /debug/pprof/ to authenticated users, as upstream's
	// --profiling does.
	Profiling bool

	// ReadyChecks are consulted by /readyz besides etcd.
	ReadyChecks map[string]func(context.Context) error

	Logger *slog.Logger
}

// ResourceHooks run inside writes of one resource. Begin hooks run after the strategy prepared the
// object and mutating admission ran, before validation, so what they set (an allocated address) is
// validated like the rest. They return finish, called once with whether the write was stored
// (false: undo what Begin reserved). With dryRun they check but reserve nothing.
type ResourceHooks interface {
	BeginCreate(ctx context.Context, obj runtime.Object, dryRun bool) (finish func(stored bool), err error)
	BeginUpdate(ctx context.Context, obj, old runtime.Object, dryRun bool) (finish func(stored bool), err error)
	// AfterDelete runs once the object is gone from storage.
	AfterDelete(ctx context.Context, obj runtime.Object)
}

// Server is a running API server.
type Server struct {
	cfg       Config
	log       *slog.Logger
	endpoints map[schema.GroupVersionResource]*endpoint
	groups    []groupInfo // discovery, in priority order
	ready     atomic.Bool
	addr      atomic.Value // string
	started   time.Time

	kubeletOnce sync.Once
	kubeletRT   http.RoundTripper
}

// New builds a server over cfg's store; the store must not be started yet (New registers every
// resource with it).
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = auth.AllowAuthenticated{}
	}
	if cfg.Authenticator == nil {
		// Components of this process call through loopback.Transport; everyone else presents a
		// certificate.
		cfg.Authenticator = auth.Union{loopback.Authenticator{}, auth.NewClientCertAuthenticator(cfg.ClientCA)}
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "apiserver"), endpoints: map[schema.GroupVersionResource]*endpoint{}}
	for _, res := range cfg.Resources {
		ep, err := newEndpoint(res, cfg.Store)
		if err != nil {
			return nil, err
		}
		if _, dup := s.endpoints[res.GroupVersionResource]; dup {
			return nil, fmt.Errorf("resource %s declared twice", res.GroupVersionResource)
		}
		s.endpoints[res.GroupVersionResource] = ep
	}
	s.groups = buildGroups(cfg.Resources)
	return s, nil
}

// Endpoint returns the storage-backed handle of a served resource, for in-process bootstrap code
// (default namespaces, the kubernetes Service).
func (s *Server) lookup(gvr schema.GroupVersionResource) *endpoint { return s.endpoints[gvr] }

// Addr is the address the server listens on, once Run has started listening.
func (s *Server) Addr() string {
	a, _ := s.addr.Load().(string)
	return a
}

// Run serves until ctx is done, then shuts down gracefully: in-flight requests get a few seconds,
// watches are ended.
func (s *Server) Run(ctx context.Context, onListening func()) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(s.cfg.BindAddress, fmt.Sprint(s.cfg.Port)))
		if err != nil {
			return err
		}
	}
	s.addr.Store(ln.Addr().String())
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{s.cfg.ServingCert},
		ClientAuth:   tls.RequestClientCert, // verified by the authenticator, so that a bad cert is a 401, not a TLS failure
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          nil,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.started = time.Now()
	s.ready.Store(true)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, tlsCfg)) }()
	if onListening != nil {
		onListening()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	return err
}

// ServeHTTP is the request chain: recovery, authentication, authorization, routing.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("%v", p)))
		}
	}()
	if r.ContentLength > MaxRequestBodyBytes {
		s.writeError(w, r, tooLarge(fmt.Sprintf("the request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, MaxRequestBodyBytes)))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBodyBytes)
	path := r.URL.Path
	// Probes answer without credentials, as upstream's default RBAC lets anyone read them.
	switch {
	case path == "/healthz" || path == "/livez" || strings.HasPrefix(path, "/healthz/") || strings.HasPrefix(path, "/livez/"):
		s.serveHealth(w, r, false)
		return
	case path == "/readyz" || strings.HasPrefix(path, "/readyz/"):
		s.serveHealth(w, r, true)
		return
	case path == "/version" || path == "/version/":
		s.writeJSON(w, http.StatusOK, version.Info())
		return
	}
	user, ok, err := s.cfg.Authenticator.Authenticate(r)
	if err != nil || !ok {
		s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
		return
	}
	ctx := auth.WithUser(r.Context(), user)
	r = r.WithContext(ctx)
	info := parseRequestInfo(r)
	attrs := auth.Attributes{User: user, Verb: info.Verb, Namespace: info.Namespace, APIGroup: info.Group,
		Resource: info.Resource, Subresource: info.Subresource, Name: info.Name}
	if !info.IsResource {
		attrs.Path = path
	}
	allowed, reason, err := s.cfg.Authorizer.Authorize(ctx, attrs)
	if err != nil || !allowed {
		if reason == "" && err != nil {
			reason = err.Error()
		}
		s.writeError(w, r, apierrors.NewForbidden(schema.GroupResource{Group: info.Group, Resource: info.Resource}, info.Name, errors.New(reason)))
		return
	}
	switch {
	case info.IsResource:
		s.serveResource(w, r, info)
	case path == "/api" || path == "/api/" || path == "/apis" || path == "/apis/" || info.APIPrefix != "":
		s.serveDiscovery(w, r, info)
	case strings.HasPrefix(path, "/openapi/") && s.cfg.OpenAPI != nil:
		s.cfg.OpenAPI.ServeHTTP(w, r)
	case strings.HasPrefix(path, "/debug/pprof") && s.cfg.Profiling:
		servePprof(w, r)
	case path == "/":
		paths := []string{"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi/v2", "/openapi/v3"}
		for _, g := range s.groups {
			paths = append(paths, "/apis/"+g.name)
			for _, v := range g.versions {
				paths = append(paths, "/apis/"+g.name+"/"+v)
			}
		}
		sort.Strings(paths)
		s.writeJSON(w, http.StatusOK, metav1.RootPaths{Paths: paths})
	default:
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""))
	}
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request, readiness bool) {
	var failed []string
	var lines []string
	check := func(name string, err error) {
		if err != nil {
			failed = append(failed, name)
			lines = append(lines, "[-]"+name+" failed: "+err.Error())
		} else {
			lines = append(lines, "[+]"+name+" ok")
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	check("ping", nil)
	_, err := s.cfg.Store.Client().Get(ctx, storage.Prefix, clientCountOnly()...)
	check("etcd", err)
	if readiness {
		var notReady error
		if !s.ready.Load() {
			notReady = errors.New("shutting down")
		}
		check("shutdown", notReady)
		names := make([]string, 0, len(s.cfg.ReadyChecks))
		for n := range s.cfg.ReadyChecks {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			check(n, s.cfg.ReadyChecks[n](ctx))
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, strings.Join(lines, "\n")+"\nhealthz check failed\n")
		return
	}
	if r.URL.Query().Has("verbose") {
		io.WriteString(w, strings.Join(lines, "\n")+"\ncheck passed\n")
		return
	}
	io.WriteString(w, "ok")
}
