package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/runtime"
)

// DefaultAllowedUser is the API server's identity towards node agents (pki.KubeletClientCommonName).
const DefaultAllowedUser = "kube-apiserver-kubelet-client"

// ContainerRef is what the kubelet knows of one container of a pod.
type ContainerRef struct {
	PodUID string
	// ID is the runtime's ID of the current attempt; "" when none was created yet. Logs are
	// followed while this container runs, and exec runs in it.
	ID string
	// LogPath is the current attempt's CRI log file; PreviousLogPath the last terminated
	// attempt's, "" when there is none.
	LogPath, PreviousLogPath string
}

// SandboxRef is what the kubelet knows of a pod's sandbox.
type SandboxRef struct {
	PodUID string
	// NetNSPath is the pod's network namespace; "" for hostNetwork pods, whose ports are the
	// node's own.
	NetNSPath string
}

// Pods is the kubelet core as this API needs it. Errors wrapping runtime.ErrNotFound become
// 404s; errors carrying a metav1.Status (apierrors) are served as they are, so the kubelet can
// give upstream's exact messages ("container x is waiting to start").
type Pods interface {
	// Container resolves a pod's container (by pod namespace and name, and container name).
	Container(namespace, pod, container string) (ContainerRef, error)
	// Sandbox resolves a pod's sandbox for port-forward.
	Sandbox(namespace, pod string) (SandboxRef, error)
}

// Config configures a Server.
type Config struct {
	Pods    Pods
	Runtime runtime.Runtime
	// ClientCA verifies callers' client certificates (the cluster CA).
	ClientCA *x509.CertPool
	// AllowedUsers are the client certificate common names allowed to call; empty means
	// DefaultAllowedUser only.
	AllowedUsers []string
	ServingCert  tls.Certificate
	Logger       *slog.Logger

	// StreamCreationTimeout bounds how long an exec or port-forward client may take to open its
	// streams after the upgrade (default 30s, upstream's).
	StreamCreationTimeout time.Duration
	// StreamIdleTimeout closes exec and port-forward connections idle that long (default 4h, upstream's).
	StreamIdleTimeout time.Duration
	// LogPollInterval is how often a followed log is checked for new lines, rotation and the
	// container's end (default 250ms).
	LogPollInterval time.Duration
}

// Server serves the node agent's API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
}

// New returns a Server; Serve runs it.
func New(cfg Config) *Server {
	if len(cfg.AllowedUsers) == 0 {
		cfg.AllowedUsers = []string{DefaultAllowedUser}
	}
	if cfg.StreamCreationTimeout <= 0 {
		cfg.StreamCreationTimeout = 30 * time.Second
	}
	if cfg.StreamIdleTimeout <= 0 {
		cfg.StreamIdleTimeout = 4 * time.Hour
	}
	if cfg.LogPollInterval <= 0 {
		cfg.LogPollInterval = 250 * time.Millisecond
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	api := http.NewServeMux()
	api.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.serveLogs)
	for _, m := range []string{"GET", "POST"} {
		api.HandleFunc(m+" /exec/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) { s.serveExec(w, r, false) })
		api.HandleFunc(m+" /attach/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) { s.serveExec(w, r, true) })
		api.HandleFunc(m+" /portForward/{ns}/{pod}", s.servePortForward)
	}
	mux.Handle("/", s.authenticate(api))
	s.handler = mux
	return s
}

// Handler is the API without TLS, for callers that run their own listener (tests): it relies on
// the connection's verified client certificate, so it must be served with TLSConfig.
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig asks for client certificates without requiring them, so that /healthz answers
// anyone; every other path checks the verified chain itself. HTTP/1.1 only: upgrades need a
// connection of their own.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.cfg.ServingCert},
		ClientCAs:    s.cfg.ClientCA,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// Serve serves HTTPS on ln until ctx ends; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			srv.Close() // hijacked connections (exec, port-forward) are not the server's to drain
		case <-done:
		}
	}()
	err := srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// authenticate admits only verified client certificates of the allowed users: 401 without one,
// 403 for anyone else.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			writeStatus(w, apierrors.NewUnauthorized("a client certificate signed by the cluster CA is required"))
			return
		}
		user := r.TLS.VerifiedChains[0][0].Subject.CommonName
		if !slices.Contains(s.cfg.AllowedUsers, user) {
			s.log.Warn("refused node API caller", "user", user, "path", r.URL.Path)
			writeStatus(w, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes/proxy"}, r.URL.Path, fmt.Errorf("user %q may not use the node agent's API", user)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusOf turns an error into the Status served for it.
func statusOf(err error) *apierrors.StatusError {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return &apierrors.StatusError{ErrStatus: st.Status()}
	}
	if errors.Is(err, runtime.ErrNotFound) {
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound, Message: err.Error(),
		}}
	}
	if errors.Is(err, runtime.ErrFailedPrecondition) {
		return apierrors.NewBadRequest(err.Error())
	}
	return apierrors.NewInternalError(err)
}

// writeStatus answers a request with a Status, as the API server's clients decode errors.
func writeStatus(w http.ResponseWriter, err error) {
	st := statusOf(err).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(st.Code))
	json.NewEncoder(w).Encode(&st)
}
