package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/apiserver"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/defaultchain"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/eviction"
	"github.com/skiff-dev/skiff/internal/apiserver/openapi"
	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/resources"
	"github.com/skiff-dev/skiff/internal/apiserver/scheme"
	"github.com/skiff-dev/skiff/internal/apiserver/storage"
	"github.com/skiff-dev/skiff/internal/controllermanager"
	"github.com/skiff-dev/skiff/internal/dns"
	"github.com/skiff-dev/skiff/internal/etcd"
	"github.com/skiff-dev/skiff/internal/informershare"
	"github.com/skiff-dev/skiff/internal/kubelet"
	"github.com/skiff-dev/skiff/internal/pki"
	"github.com/skiff-dev/skiff/internal/scheduler"
)

// Config is what `skiff server` is told.
type Config struct {
	DataDir     string
	BindAddress string
	SecurePort  int
	// AdvertiseAddress is the address other hosts reach this server at; default: the first host IP.
	AdvertiseAddress net.IP

	EtcdServers                           []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string

	ServiceClusterIPRange string
	ServiceNodePortRange  string
	EventTTL              time.Duration
	// Profiling serves /debug/pprof/ on the API server.
	Profiling bool
	// CompactionInterval is how often etcd history is compacted (default 5 minutes).
	CompactionInterval time.Duration

	// WatchHistoryWindow and BookmarkInterval tune the watch cache (see storage.Options); zero
	// keeps the defaults. Tests shrink them to reach expiry and bookmarks quickly.
	WatchHistoryWindow int
	BookmarkInterval   time.Duration

	// DisableAgent turns off the node agent `skiff server` runs in-process by default.
	DisableAgent bool
	// Agent configures the in-process node agent; unset fields default to: node name the
	// hostname, node IP the advertise address, data dir <DataDir>/agent.
	Agent kubelet.Config

	// DisableScheduler turns off the scheduler `skiff server` runs in-process by default.
	DisableScheduler bool
	// Scheduler configures the in-process scheduler.
	Scheduler scheduler.Config
	// DisableControllerManager turns off the controllers `skiff server` runs in-process.
	DisableControllerManager bool
	// Controllers selects controllers as `--controllers` does (empty: all).
	Controllers []string
	// ControllerWorkers overrides the worker count per controller.
	ControllerWorkers map[string]int
	// NodeIPAM configures pod CIDR allocation to Nodes (`skiff server` turns it on by default,
	// as kubeadm setups do).
	NodeIPAM controllermanager.NodeIPAM
	// NodeMonitorGracePeriod and NodeMonitorPeriod tune the node lifecycle controller (see
	// controllermanager.Config); zero keeps upstream's 40 s and 5 s.
	NodeMonitorGracePeriod, NodeMonitorPeriod time.Duration
	// OnControllersStarted is called once the controllers run (their caches synced).
	OnControllersStarted func()

	// DisableClusterDNS turns off the cluster DNS `skiff server` runs in-process.
	DisableClusterDNS bool
	// ClusterDNSListen is where the cluster DNS listens, UDP and TCP (default
	// <advertise address>:53; tests use 127.0.0.1:0).
	ClusterDNSListen string
	// ClusterDNSBind, when set, binds the cluster DNS's sockets for ClusterDNSListen (see
	// dns.Config.Bind); tests whose hosts are network namespaces bind them inside one.
	ClusterDNSBind func(addr string) (net.PacketConn, net.Listener, error)
	// ClusterDomain is the cluster's DNS domain (default cluster.local).
	ClusterDomain string
	// DNSUpstreams are the resolvers the cluster DNS forwards other names to (default: the
	// host's resolv.conf nameservers).
	DNSUpstreams []string

	// Listener, when set, replaces BindAddress:SecurePort (tests use port 0).
	Listener net.Listener
	// KubeletDial, when set, is how the API server connects to node agents for logs, exec,
	// attach and port-forward (see apiserver.KubeletClient.Dial); tests whose nodes live in
	// network namespaces of their own set it.
	KubeletDial func(ctx context.Context, network, address string) (net.Conn, error)
	Logger      *slog.Logger
	// OnReady is called once the API server answers and the bootstrap objects exist.
	OnReady func(*Running)
}

// Running describes a started server.
type Running struct {
	// URL is the API server's address, e.g. https://127.0.0.1:6443.
	URL string
	// AdminKubeconfig is the path of the admin kubeconfig.
	AdminKubeconfig string
	// Etcd is the store's etcd client, valid while the server runs (tests compact with it).
	Etcd *clientv3.Client
	// Agent is the in-process node agent, nil when disabled or when it could not start.
	Agent *kubelet.Kubelet
	// ClusterDNS is the in-process cluster DNS, nil when disabled; its Addr is where it
	// listens once serving.
	ClusterDNS *dns.Server
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.DataDir == "" {
		c.DataDir = "/var/lib/skiff"
	}
	if c.BindAddress == "" {
		c.BindAddress = "0.0.0.0"
	}
	if c.SecurePort == 0 {
		c.SecurePort = 6443
	}
	if c.ServiceClusterIPRange == "" {
		c.ServiceClusterIPRange = "10.96.0.0/12"
	}
	if c.ServiceNodePortRange == "" {
		c.ServiceNodePortRange = "30000-32767"
	}
	if c.CompactionInterval == 0 {
		c.CompactionInterval = 5 * time.Minute
	}
	if c.EventTTL == 0 {
		c.EventTTL = time.Hour
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = dns.DefaultDomain
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Run starts everything and serves until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	cfg.Defaults()
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	if !cfg.DisableControllerManager {
		if _, err := controllermanager.Enabled(cfg.Controllers); err != nil {
			return fmt.Errorf("--controllers: %w", err)
		}
		if err := controllermanager.CheckNodeMonitor(cfg.NodeMonitorGracePeriod, cfg.NodeMonitorPeriod); err != nil {
			return err
		}
	}
	serviceRanges, err := parseServiceRanges(cfg)
	if err != nil {
		return err
	}
	serviceIP := net.IP(serviceRanges.cidr.First().AsSlice())
	hostIPs, _ := pki.HostIPs()
	advertise := cfg.AdvertiseAddress
	if advertise == nil {
		advertise = net.ParseIP("127.0.0.1")
		if len(hostIPs) > 0 {
			advertise = hostIPs[0]
		}
	}
	hostname, _ := os.Hostname()
	bundle, err := pki.EnsureServer(filepath.Join(cfg.DataDir, "pki"), pki.ServerOptions{
		Hostname: hostname, NodeIPs: append([]net.IP{advertise}, hostIPs...), ServiceIP: serviceIP,
	})
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}

	start := time.Now()
	store, err := etcd.Start(ctx, etcd.Config{
		DataDir: cfg.DataDir, Servers: cfg.EtcdServers,
		CAFile: cfg.EtcdCAFile, CertFile: cfg.EtcdCertFile, KeyFile: cfg.EtcdKeyFile,
	})
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer store.Close()
	log.Info("etcd ready", "embedded", store.Embedded(), "endpoints", store.Endpoints(), "took", time.Since(start).Round(time.Millisecond))

	kcCert, err := bundle.KubeletClient.TLSCertificate()
	if err != nil {
		return err
	}
	kubeletClient := &apiserver.KubeletClient{Cert: kcCert, CA: bundle.CAPool, Dial: cfg.KubeletDial}
	st := storage.New(store.InProcessClient(), storage.Options{
		Logger: log, HistoryWindow: cfg.WatchHistoryWindow, BookmarkInterval: cfg.BookmarkInterval,
	})
	catalog := resources.All(resources.Options{EventTTL: cfg.EventTTL})
	oapi, err := openapi.New(openAPIResources(catalog))
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	var api *apiserver.Server
	services, err := newServiceAllocator(store.InProcessClient(), serviceRanges, func() *apiserver.Server { return api }, log)
	if err != nil {
		return err
	}
	api, err = apiserver.New(apiserver.Config{
		Store: st, Resources: catalog, Listener: cfg.Listener,
		BindAddress: cfg.BindAddress, Port: cfg.SecurePort,
		ServingCert: bundle.Serving, ClientCA: bundle.CAPool, OpenAPI: oapi, Logger: log, Profiling: cfg.Profiling,
		KubeletClient: kubeletClient,
		Hooks:         map[schema.GroupResource]apiserver.ResourceHooks{{Resource: "services"}: services},
	})
	if err != nil {
		return err
	}
	served := make([]schema.GroupVersionResource, 0, len(catalog))
	for _, r := range catalog {
		served = append(served, r.GroupVersionResource)
	}
	api.SetAdmission(defaultchain.New(api.Lookup(), served))
	api.SetEviction(eviction.New(api.Lookup()).Evict)
	if err := st.Start(ctx); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	defer st.Stop()
	// The bitmaps must agree with the stored Services before the first allocation.
	if err := services.Repair(ctx); err != nil {
		return fmt.Errorf("service allocation: %w", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go st.Compact(runCtx, cfg.CompactionInterval)
	go services.RunRepair(runCtx)
	listening := make(chan struct{})
	errc := make(chan error, 1)
	// The API server outlives runCtx until its clients have stopped (see stopComponents).
	apiCtx, apiCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer apiCancel()
	go func() { errc <- api.Run(apiCtx, func() { close(listening) }) }()
	select {
	case err := <-errc:
		return err
	case <-listening:
	}
	port := cfg.SecurePort
	if _, p, err := net.SplitHostPort(api.Addr()); err == nil {
		fmt.Sscan(p, &port)
	}
	if err := api.Bootstrap(runCtx, apiserver.BootstrapConfig{ServiceIP: serviceIP, AdvertiseAddress: advertise, Port: port}); err != nil {
		cancel()
		apiCancel()
		<-errc
		return err
	}
	url := "https://" + net.JoinHostPort(localHost(cfg.BindAddress), fmt.Sprint(port))
	kubeconfig := filepath.Join(cfg.DataDir, "admin.kubeconfig")
	if err := pki.WriteKubeconfig(kubeconfig, url, "skiff", "admin", bundle.CA.CertPEM, bundle.Admin.CertPEM, bundle.Admin.KeyPEM); err != nil {
		cancel()
		apiCancel()
		<-errc
		return err
	}
	// Clients of the API server (the agent, the scheduler, the controllers) run on a context of
	// their own, so that they stop, and hand over their Leases, while the API server still answers.
	compCtx, compCancel := context.WithCancel(runCtx)
	defer compCancel()
	var sharedPods *informershare.Shared
	if !cfg.DisableScheduler && !cfg.DisableControllerManager {
		// The scheduler and the controllers read every pod: one watch and one cache between them.
		shared, err := sharedPodInformer(compCtx, api, log)
		if err != nil {
			log.Error("pod informer not shared", "err", err)
		} else {
			sharedPods, cfg.Scheduler.SharedPods = shared, shared
		}
	}
	schedDone := make(chan struct{})
	if cfg.DisableScheduler {
		close(schedDone)
	} else {
		go func() {
			defer close(schedDone)
			runScheduler(compCtx, &cfg, api)
		}()
	}
	var clusterDNS *dns.Server
	dnsDone := make(chan struct{})
	if cfg.DisableClusterDNS {
		close(dnsDone)
	} else if dnsIP, err := ClusterDNSIP(serviceRanges.cidr.String()); err != nil {
		log.Error("cluster DNS not started", "err", err)
		close(dnsDone)
	} else {
		if cfg.ClusterDNSListen == "" {
			cfg.ClusterDNSListen = net.JoinHostPort(advertise.String(), "53")
		}
		if len(cfg.Agent.ClusterDNS) == 0 {
			cfg.Agent.ClusterDNS = []net.IP{dnsIP}
		}
		if cfg.Agent.ClusterDomain == "" {
			cfg.Agent.ClusterDomain = cfg.ClusterDomain
		}
		publish := func(addr string) {
			client, err := kubernetes.NewForConfig(inProcessConfig(api, log, ClusterDNSUser, nil, "skiff-dns", 0, 0))
			if err != nil {
				log.Error("cluster DNS not published", "err", err)
				return
			}
			go publishClusterDNS(compCtx, client, dnsIP, addr, advertise, log.Warn)
		}
		if clusterDNS, err = newClusterDNS(&cfg, api, publish); err != nil {
			log.Error("cluster DNS not started", "err", err)
			clusterDNS = nil
			close(dnsDone)
		} else {
			go func() {
				defer close(dnsDone)
				if err := clusterDNS.Run(compCtx); err != nil && compCtx.Err() == nil {
					log.Error("cluster DNS stopped", "err", err)
				}
			}()
		}
	}
	var agent *kubelet.Kubelet
	agentDone := make(chan struct{})
	if cfg.DisableAgent {
		close(agentDone)
	} else if agent, err = newAgent(&cfg, bundle, api, advertise); err != nil {
		log.Error("node agent not started", "err", err)
		agent = nil
		close(agentDone)
	} else {
		go func() {
			defer close(agentDone)
			runAgent(compCtx, &cfg, agent)
		}()
	}
	cmDone := make(chan struct{})
	if cfg.DisableControllerManager {
		close(cmDone)
	} else {
		go func() {
			defer close(cmDone)
			if err := runControllerManager(compCtx, &cfg, api, sharedPods); err != nil && compCtx.Err() == nil {
				log.Error("controller manager stopped", "err", err)
			}
		}()
	}
	// The agent, the scheduler and the controllers stop before the API server they talk to.
	stopComponents := func() { compCancel(); <-agentDone; <-schedDone; <-cmDone; <-dnsDone }
	defer func() { stopComponents(); cancel() }()
	log.Info("skiff server ready", "url", url, "kubeconfig", kubeconfig, "startup", time.Since(start).Round(time.Millisecond))
	if cfg.OnReady != nil {
		cfg.OnReady(&Running{URL: url, AdminKubeconfig: kubeconfig, Etcd: store.Client(), Agent: agent, ClusterDNS: clusterDNS})
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		stopComponents()
	case err := <-store.Err():
		cancel()
		apiCancel()
		<-errc
		return fmt.Errorf("etcd stopped: %w", err)
	}
	cancel()
	apiCancel()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("skiff server stopped")
	return nil
}

// localHost is the host clients on this machine use to reach a server bound to bind.
func localHost(bind string) string {
	if bind == "" || bind == "0.0.0.0" || bind == "::" {
		return "127.0.0.1"
	}
	return strings.Trim(bind, "[]")
}

// openAPIResources describes the catalog to the OpenAPI builder.
func openAPIResources(catalog []*registry.Resource) []openapi.Resource {
	var out []openapi.Resource
	for _, r := range catalog {
		gvk := r.GroupVersion().WithKind(r.Kind)
		obj, err := scheme.Scheme.New(gvk)
		if err != nil {
			continue
		}
		list, err := scheme.Scheme.New(gvk.GroupVersion().WithKind(r.Kind + "List"))
		if err != nil {
			continue
		}
		res := openapi.Resource{GVR: r.GroupVersionResource, Kind: r.Kind, Namespaced: r.Namespaced, Object: obj, List: list, Verbs: r.Verbs}
		if r.Status {
			res.Subresources = append(res.Subresources, openapi.Subresource{Name: "status"})
		}
		if r.Scale != nil {
			res.Subresources = append(res.Subresources, openapi.Subresource{Name: "scale", Object: &autoscalingv1.Scale{},
				GVK: autoscalingv1.SchemeGroupVersion.WithKind("Scale")})
		}
		if r.GroupResource() == (schema.GroupResource{Resource: "namespaces"}) {
			res.Subresources = append(res.Subresources, openapi.Subresource{Name: "finalize", Verbs: []string{"update"}})
		}
		out = append(out, res)
	}
	return out
}
