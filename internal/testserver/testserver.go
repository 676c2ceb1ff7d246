package testserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/dns"
	"github.com/skiff-dev/skiff/internal/kubelet"
	"github.com/skiff-dev/skiff/internal/server"
)

// Server is a running test server.
type Server struct {
	DataDir    string
	URL        string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	// Etcd is the server's etcd client (to compact, or to look under the API).
	Etcd *clientv3.Client
	// Agent is the in-process node agent when the test enabled it.
	Agent *kubelet.Kubelet
	// ClusterDNS is the in-process cluster DNS when the test enabled it (its Addr is set once
	// it serves).
	ClusterDNS *dns.Server

	cancel context.CancelFunc
	done   chan error
	ownDir bool
	opts   Options
}

// Options adjust a test server.
type Options struct {
	// DataDir reuses a data dir (to test restarts); empty means a fresh temporary one.
	DataDir string
	// Mutate changes the server config before start. Restart calls it again, so that a
	// restarted server keeps its node agent's settings: it should open any listener it hands
	// over afresh on each call.
	Mutate func(*server.Config)
}

// Start runs a server for t and stops it when t ends.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s, err := StartServer(o)
	if err != nil {
		t.Fatalf("starting skiff server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartWithControllers runs a server outside of a test (a package's TestMain) with its controller
// manager on, and returns once the controllers run (their caches synced), so that the package's
// tests never race their start. o's own Mutate runs first. Call Stop.
func StartWithControllers(o Options) (*Server, error) {
	started := make(chan struct{})
	var once sync.Once
	mutate := o.Mutate
	o.Mutate = func(c *server.Config) {
		if mutate != nil {
			mutate(c)
		}
		c.DisableControllerManager = false
		c.OnControllersStarted = func() { once.Do(func() { close(started) }) }
	}
	s, err := StartServer(o)
	if err != nil {
		return nil, err
	}
	select {
	case <-started:
		return s, nil
	case <-time.After(60 * time.Second):
		s.Stop()
		return nil, errors.New("the controllers did not start within 60 s")
	}
}

// StartServer runs a server outside of a test (benchmarks, load drivers); call Stop.
func StartServer(o Options) (*Server, error) {
	dir := o.DataDir
	if dir == "" {
		// Short paths: the etcd unix socket lives in the data dir.
		d, err := os.MkdirTemp("", "skiff-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{DataDir: dir, cancel: cancel, done: make(chan error, 1), ownDir: o.DataDir == "", opts: o}
	ready := make(chan *server.Running, 1)
	// No node agent unless a test asks (Mutate clears DisableAgent): it needs root and makes
	// host state (bridges, cgroups) an API test has no use for. No scheduler and no controllers
	// either (Mutate clears DisableScheduler or DisableControllerManager): API tests create
	// pending pods, ReplicaSets and Deployments and expect them to stay as written. No cluster
	// DNS (Mutate clears DisableClusterDNS and sets ClusterDNSListen to a loopback port).
	cfg := server.Config{
		DataDir: dir, Listener: ln, BindAddress: "127.0.0.1", DisableAgent: true, DisableScheduler: true,
		DisableControllerManager: true, DisableClusterDNS: true,
		Logger: logger, OnReady: func(r *server.Running) { ready <- r },
	}
	if o.Mutate != nil {
		o.Mutate(&cfg)
	}
	go func() { s.done <- server.Run(ctx, cfg) }()
	select {
	case r := <-ready:
		s.URL, s.Kubeconfig, s.Etcd, s.Agent, s.ClusterDNS = r.URL, r.AdminKubeconfig, r.Etcd, r.Agent, r.ClusterDNS
	case err := <-s.done:
		cancel()
		s.removeOwnDir()
		return nil, err
	case <-time.After(60 * time.Second):
		s.Stop()
		return nil, context.DeadlineExceeded
	}
	rc, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		s.Stop()
		return nil, err
	}
	rc.QPS, rc.Burst = 1000, 2000
	s.Config = rc
	s.Client, err = kubernetes.NewForConfig(rc)
	if err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop shuts the server down and waits for it; a data dir it created is removed.
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.cancel = nil
	s.removeOwnDir()
}

// Restart stops the server and starts a new one on the same data dir, which it then owns, with
// the same options (its node agent, when enabled, adopts the containers the old one left).
func (s *Server) Restart(t testing.TB) *Server {
	t.Helper()
	own := s.ownDir
	s.ownDir = false
	s.Stop()
	o := s.opts
	o.DataDir = s.DataDir
	n := Start(t, o)
	n.ownDir = own
	return n
}

func (s *Server) removeOwnDir() {
	if s.ownDir {
		os.RemoveAll(s.DataDir)
	}
}
