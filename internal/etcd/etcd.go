package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	// MaxRequestBytes is the largest request the embedded server accepts (etcd's default, 1.5 MiB).
	// The API server sizes its own object limit below this, so it must not drift.
	MaxRequestBytes = int(embed.DefaultMaxRequestBytes)

	// QuotaBackendBytes caps the embedded database file; past it etcd raises a NOSPACE alarm and
	// refuses writes rather than filling the disk. 2 GiB is etcd's own default and far above what a
	// small cluster stores once the API server compacts.
	QuotaBackendBytes = 2 << 30

	// DefaultStartTimeout bounds how long Start waits for the embedded server to serve, or for an
	// external cluster to answer. WAL replay after an unclean stop is the slow case.
	DefaultStartTimeout = 60 * time.Second

	// maxUnixPath is sun_path's capacity on Linux less the terminating NUL.
	maxUnixPath = 107

	// Client keepalives notice a dead external member within ~40s, so the balancer moves on; the
	// values are those kube-apiserver uses for its etcd client.
	keepAliveTime    = 30 * time.Second
	keepAliveTimeout = 10 * time.Second
	dialTimeout      = 20 * time.Second
)

// Config selects and configures the store.
type Config struct {
	// DataDir is skiff's data directory; the embedded server keeps its files in DataDir/etcd and its
	// client socket in DataDir.
	DataDir string
	// Servers lists external etcd client URLs (https://10.0.0.1:2379). Empty means embedded.
	Servers []string
	// CAFile, CertFile and KeyFile are the client TLS material for external servers. CAFile alone
	// verifies the servers; CertFile and KeyFile add a client certificate.
	CAFile, CertFile, KeyFile string
	// StartTimeout defaults to DefaultStartTimeout.
	StartTimeout time.Duration
	// Logger receives etcd's server and client logs. Nil means warnings and errors to stderr: etcd
	// logs every start-up step at info, which drowns skiff's own lines.
	Logger *zap.Logger
}

// Handle is a ready store: a client, and for the embedded mode the server behind it.
type Handle struct {
	client    *clientv3.Client
	clientCfg clientv3.Config
	endpoints []string
	server    *embed.Etcd // nil for external servers
	closing   *atomic.Bool
	closeOnce sync.Once
	closeErr  error

	inProcOnce sync.Once
	inProc     *clientv3.Client
}

// Client is the shared client; callers must not Close it (Handle.Close does).
func (h *Handle) Client() *clientv3.Client { return h.client }

// Endpoints are the client URLs the store answers on.
func (h *Handle) Endpoints() []string { return append([]string(nil), h.endpoints...) }

// Embedded reports whether this process runs the etcd server.
func (h *Handle) Embedded() bool { return h.server != nil }

// InProcessClient returns a client that calls the embedded server's handlers directly, without
// gRPC, sockets or serialisation; for external servers it returns Client. The API server uses it
// for its own traffic: on a small machine the socket round trip costs as much as the write. The
// caller must not Close it.
func (h *Handle) InProcessClient() *clientv3.Client {
	if h.server == nil {
		return h.client
	}
	h.inProcOnce.Do(func() { h.inProc = v3client.New(h.server.Server) })
	return h.inProc
}

// NewClient returns another client to the same store, configured like Client. gRPC multiplexes
// every stream over one connection, so a component with heavy watch traffic may want its own.
// The caller closes it.
func (h *Handle) NewClient() (*clientv3.Client, error) {
	return clientv3.New(h.clientCfg)
}

// Err reports a fatal error of the embedded server, after which the store is gone and the process
// should stop. For external servers it never fires: the client reconnects on its own.
func (h *Handle) Err() <-chan error {
	if h.server == nil {
		return nil
	}
	return h.server.Err()
}

// Close closes the client and, when embedded, stops the server gracefully: in-flight requests
// finish, the backend is committed and the WAL closed, so the next start replays nothing.
func (h *Handle) Close() error {
	h.closeOnce.Do(func() {
		if h.closing != nil {
			h.closing.Store(true)
		}
		if h.client != nil {
			h.closeErr = h.client.Close()
		}
		if h.inProc != nil {
			h.inProc.Close()
		}
		if h.server != nil {
			h.server.Close()
		}
	})
	return h.closeErr
}

// Start returns a ready store: embedded when cfg.Servers is empty, external otherwise.
func Start(ctx context.Context, cfg Config) (*Handle, error) {
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = defaultLogger()
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(cfg.Servers) == 0 {
		return startEmbedded(ctx, cfg)
	}
	return connectExternal(ctx, cfg)
}

func defaultLogger() *zap.Logger {
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(zapcore.WarnLevel)
	zc.Sampling = nil
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	lg, err := zc.Build()
	if err != nil {
		return zap.NewNop()
	}
	return lg.Named("etcd")
}

func connectExternal(ctx context.Context, cfg Config) (*Handle, error) {
	var tlsCfg *tls.Config
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		if (cfg.CertFile == "") != (cfg.KeyFile == "") {
			return nil, errors.New("etcd client TLS: certificate and key files must be given together")
		}
		info := transport.TLSInfo{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, TrustedCAFile: cfg.CAFile, Logger: cfg.Logger}
		var err error
		if tlsCfg, err = info.ClientConfig(); err != nil {
			return nil, fmt.Errorf("etcd client TLS: %w", err)
		}
	}
	cc := clientConfig(cfg.Servers, tlsCfg, cfg.Logger)
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", cfg.Servers, err)
	}
	// A linearizable read needs a quorum, so success means the cluster, not just one member, serves.
	if _, err := cli.Get(ctx, "health", clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd at %v not reachable: %w", cfg.Servers, err)
	}
	return &Handle{client: cli, clientCfg: cc, endpoints: append([]string(nil), cfg.Servers...)}, nil
}

func clientConfig(endpoints []string, tlsCfg *tls.Config, lg *zap.Logger) clientv3.Config {
	return clientv3.Config{
		Endpoints:            endpoints,
		TLS:                  tlsCfg,
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    keepAliveTime,
		DialKeepAliveTimeout: keepAliveTimeout,
		Logger:               lg.Named("client"),
		// Let requests up to the server's limit through; the client default is larger, so a too-big
		// object would otherwise only be refused after a round trip with a less clear error.
		MaxCallSendMsgSize: MaxRequestBytes + grpcOverhead,
	}
}

// grpcOverhead leaves room for the request envelope (key, options) around a value of
// MaxRequestBytes, matching the slack etcd's server adds to its own receive limit.
const grpcOverhead = 512 * 1024

func startEmbedded(ctx context.Context, cfg Config) (*Handle, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("embedded etcd needs a data directory")
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	closing := new(atomic.Bool)
	ec, clientURL := embedConfig(dataDir, quieten(cfg.Logger, closing))
	if tweakEmbedConfig != nil {
		tweakEmbedConfig(ec)
	}

	started := time.Now()
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", ec.Dir, err)
	}
	// A failed start stops the server; its shutdown noise is not news either.
	abort := func() {
		closing.Store(true)
		e.Close()
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		abort()
		return nil, fmt.Errorf("embedded etcd failed while starting: %w", err)
	case <-ctx.Done():
		abort()
		return nil, fmt.Errorf("embedded etcd not ready: %w", context.Cause(ctx))
	}
	endpoint := clientURL.String()
	if clientURL.Scheme != "unix" {
		// Port 0 was asked for; the listener knows which port it got.
		endpoint = "http://" + e.Clients[0].Addr().String()
	}
	cc := clientConfig([]string{endpoint}, nil, cfg.Logger)
	cli, err := clientv3.New(cc)
	if err != nil {
		abort()
		return nil, err
	}
	if _, err := cli.Get(ctx, "health", clientv3.WithCountOnly()); err != nil {
		cli.Close()
		abort()
		return nil, fmt.Errorf("embedded etcd not answering on %s: %w", endpoint, err)
	}
	cfg.Logger.Debug("embedded etcd ready", zap.String("endpoint", endpoint), zap.Duration("took", time.Since(started)))
	return &Handle{client: cli, clientCfg: cc, endpoints: []string{endpoint}, server: e, closing: closing}, nil
}

// tweakEmbedConfig lets the measurement test compare etcd's defaults with the choices below.
var tweakEmbedConfig func(*embed.Config)

// embedConfig is the embedded server's configuration, every choice made here on purpose.
func embedConfig(dataDir string, lg *zap.Logger) (*embed.Config, url.URL) {
	ec := embed.NewConfig()
	ec.Name = "skiff"
	ec.Dir = filepath.Join(dataDir, "etcd")
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg.Named("server"))
	ec.LogLevel = "warn"

	// Clients: a unix socket when its path fits, so any number of servers (tests, several users) can
	// run on one host without port clashes, and nothing off-host can reach the store. Otherwise an
	// ephemeral loopback port, which still cannot clash.
	clientURL := url.URL{Scheme: "unix", Path: filepath.Join(dataDir, "etcd.sock")}
	if len(clientURL.Path) > maxUnixPath {
		clientURL = url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	}
	ec.ListenClientUrls = []url.URL{clientURL}
	ec.AdvertiseClientUrls = []url.URL{clientURL}
	ec.ListenClientHttpUrls = nil
	// Peers: none. A single member never dials its peer URL, so nothing listens on it; the advertised
	// URL only names the member in its own membership record.
	ec.ListenPeerUrls = nil
	ec.AdvertisePeerUrls = []url.URL{{Scheme: "http", Host: "localhost:2380"}}
	ec.InitialCluster = ec.Name + "=" + ec.AdvertisePeerUrls[0].String()
	// ClusterState "new" is ignored once the WAL exists, so restarts on the same dir keep the data.
	ec.ClusterState = embed.ClusterStateFlagNew
	ec.ListenMetricsUrls = nil

	// Start-up. A fresh or restarted member waits out a randomized election timeout of
	// [ElectionMs, 2*ElectionMs), less the ticks etcd fast-forwards for a lone member, before it
	// leads and serves: with etcd's 1000 ms that is 0.1-1 s. A single member has no peers whose
	// failure it must detect, so the shortest timeout etcd accepts (5 ticks) costs nothing and halves
	// the wait. The tick stays at 100 ms: it is an idle wake-up, ten a second.
	ec.TickMs = 100
	ec.ElectionMs = 500

	ec.QuotaBackendBytes = QuotaBackendBytes
	ec.MaxRequestBytes = uint(MaxRequestBytes)
	// The API server compacts on its own schedule (it must keep watch history long enough for
	// informers to resume); a second compactor would pull revisions out from under it. Retention "0"
	// disables etcd's compactor.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "0"

	// Memory. The raft log since the last snapshot, plus the catch-up tail kept after it, lives on
	// the heap: with etcd's defaults (10000 + 5000 entries) and Kubernetes objects of 1-5 KiB that is
	// tens of MiB under load, and it stays allocated when the cluster goes idle. A single member has
	// no followers to catch up, so the tail can be short, and snapshotting every 2000 entries costs a
	// small snap file plus a backend commit — cheap next to the memory it returns. Together these
	// bound the log to a few MiB.
	ec.SnapshotCount = 2000
	ec.SnapshotCatchUpEntries = 500
	// The gRPC gateway (JSON over HTTP) is for curl users; the API server speaks gRPC. Off, it saves
	// an internal client connection, its goroutines and buffers.
	ec.EnableGRPCGateway = false
	// "basic" metrics only: "extensive" adds per-method histograms that cost memory for nobody.
	ec.Metrics = "basic"
	// Keep the WAL and snapshots bounded on disk; embed's defaults (5 each) are fine.
	return ec, clientURL
}
