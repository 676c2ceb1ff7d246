package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// DefaultDomain is the cluster domain.
const DefaultDomain = "cluster.local"

// byServiceIndex indexes EndpointSlices by their Service's key.
const byServiceIndex = "skiff-dns-by-service"

// forwardTimeout bounds one exchange with one upstream resolver.
const forwardTimeout = 2 * time.Second

// Config is what the DNS server needs.
type Config struct {
	Client kubernetes.Interface
	// Domain is the cluster domain (default DefaultDomain).
	Domain string
	// Upstreams are the resolvers (host or host:port) questions outside the cluster domain go
	// to; default: the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read for the default upstreams (default: systemd's upstream file when
	// present, else /etc/resolv.conf).
	ResolvConf string
	// Listen is the address served over UDP and TCP (the same port on both; port 0 picks one).
	Listen string
	// Bind, when set, makes the UDP and TCP sockets for Listen instead of this process binding
	// them in its own network namespace: a caller whose DNS must answer in another namespace (a
	// test whose hosts are namespaces, a supervisor passing inherited sockets) binds them there.
	// The server owns and closes what it returns.
	Bind func(addr string) (net.PacketConn, net.Listener, error)
	// TTL of the cluster records in seconds (default DefaultTTL).
	TTL    uint32
	Logger *slog.Logger
	// OnListening is called with the bound address once the server answers.
	OnListening func(addr string)
}

// Server is the cluster DNS server.
type Server struct {
	cfg       Config
	log       *slog.Logger
	zone      *Zone
	upstreams []string
	factory   informers.SharedInformerFactory
	services  corelisters.ServiceLister
	slices    cache.Indexer
	synced    []cache.InformerSynced
	buildMu   sync.Mutex // one rebuild at a time, so that a slower stale one never lands last

	addrMu sync.Mutex
	addr   string
}

// New checks cfg and builds the server and its informers.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("dns: Config.Client is required")
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if _, ok := mdns.IsDomainName(cfg.Domain); !ok {
		return nil, fmt.Errorf("dns: %q is not a domain name", cfg.Domain)
	}
	if cfg.Listen == "" {
		cfg.Listen = ":53"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	upstreams, err := normalizeUpstreams(cfg.Upstreams)
	if err != nil {
		return nil, err
	}
	if len(cfg.Upstreams) == 0 {
		if upstreams, err = ResolvConfUpstreams(cfg.ResolvConf); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "dns"), zone: NewZone(cfg.Domain, cfg.TTL), upstreams: upstreams,
		factory: informers.NewSharedInformerFactory(cfg.Client, 0)}
	si := s.factory.Core().V1().Services()
	esi := s.factory.Discovery().V1().EndpointSlices()
	ni := s.factory.Core().V1().Namespaces()
	s.services = si.Lister()
	if err := esi.Informer().AddIndexers(cache.Indexers{byServiceIndex: serviceOfSlice}); err != nil {
		return nil, err
	}
	s.slices = esi.Informer().GetIndexer()
	svcKey := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			s.rebuild(key)
		}
	}
	sliceKey := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		keys, _ := serviceOfSlice(obj)
		for _, k := range keys {
			s.rebuild(k)
		}
	}
	nsChanged := func(obj any, exists bool) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if ns, ok := obj.(*corev1.Namespace); ok {
			s.zone.SetNamespace(ns.Name, exists)
		}
	}
	regs := []cache.ResourceEventHandler{
		cache.ResourceEventHandlerFuncs{AddFunc: svcKey, UpdateFunc: func(_, o any) { svcKey(o) }, DeleteFunc: svcKey},
		cache.ResourceEventHandlerFuncs{AddFunc: sliceKey, UpdateFunc: func(old, o any) { sliceKey(old); sliceKey(o) }, DeleteFunc: sliceKey},
		cache.ResourceEventHandlerFuncs{AddFunc: func(o any) { nsChanged(o, true) }, UpdateFunc: func(_, o any) { nsChanged(o, true) },
			DeleteFunc: func(o any) { nsChanged(o, false) }},
	}
	for i, inf := range []cache.SharedIndexInformer{si.Informer(), esi.Informer(), ni.Informer()} {
		r, err := inf.AddEventHandler(regs[i])
		if err != nil {
			return nil, err
		}
		s.synced = append(s.synced, r.HasSynced)
	}
	return s, nil
}

// serviceOfSlice is the index function: the key of the Service a slice belongs to.
func serviceOfSlice(obj any) ([]string, error) {
	sl, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || sl.Labels[discoveryv1.LabelServiceName] == "" {
		return nil, nil
	}
	return []string{sl.Namespace + "/" + sl.Labels[discoveryv1.LabelServiceName]}, nil
}

// rebuild recomputes one Service's records from the caches.
func (s *Server) rebuild(key string) {
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return
	}
	svc, err := s.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		s.zone.SetService(key, nil, nil)
		return
	}
	if err != nil {
		return
	}
	objs, _ := s.slices.ByIndex(byServiceIndex, key)
	slices := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if sl, ok := o.(*discoveryv1.EndpointSlice); ok {
			slices = append(slices, sl)
		}
	}
	s.zone.SetService(key, svc, slices)
}

// Zone is the server's record set (tests and benchmarks look into it).
func (s *Server) Zone() *Zone { return s.zone }

// Addr is the bound address once listening, else "".
func (s *Server) Addr() string {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addr
}

// Run syncs the caches, serves UDP and TCP until ctx ends, then stops both.
func (s *Server) Run(ctx context.Context) error {
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return ctx.Err()
	}
	bind := listenBoth
	if s.cfg.Bind != nil {
		bind = s.cfg.Bind
	}
	pc, ln, err := bind(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	s.addrMu.Lock()
	s.addr = pc.LocalAddr().String()
	s.addrMu.Unlock()
	// Never forward to ourselves (a host whose resolv.conf names this very server).
	for i := 0; i < len(s.upstreams); i++ {
		if s.upstreams[i] == s.addr {
			s.upstreams = append(s.upstreams[:i], s.upstreams[i+1:]...)
			i--
		}
	}
	udp := &mdns.Server{PacketConn: pc, Handler: s, UDPSize: mdns.DefaultMsgSize}
	tcp := &mdns.Server{Listener: ln, Handler: s, ReadTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	started := make(chan struct{}, 2)
	for _, srv := range []*mdns.Server{udp, tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				errc <- err
			}
		}()
	}
	for i := 0; i < 2; i++ {
		select {
		case <-started:
		case err := <-errc:
			_ = udp.Shutdown()
			_ = tcp.Shutdown()
			wg.Wait()
			return fmt.Errorf("dns: %w", err)
		}
	}
	s.log.Info("cluster DNS serving", "address", s.Addr(), "domain", s.zone.Domain(), "upstreams", s.upstreams)
	if s.cfg.OnListening != nil {
		s.cfg.OnListening(s.Addr())
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	_ = udp.Shutdown()
	_ = tcp.Shutdown()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	return nil
}

// listenBoth binds UDP and TCP on one port; with port 0, the TCP side takes the port UDP got
// (retrying if another socket holds it).
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		_, got, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err := net.Listen("tcp", net.JoinHostPort(host, got))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || attempt == 10 {
			return nil, nil, err
		}
	}
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	if len(r.Question) != 1 || r.Opcode != mdns.OpcodeQuery {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeFormatError)
		if r.Opcode != mdns.OpcodeQuery {
			m.Rcode = mdns.RcodeNotImplemented
		}
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	res := Result{Forward: true}
	if q.Qclass == mdns.ClassINET || q.Qclass == mdns.ClassANY {
		res = s.zone.Lookup(q.Name, q.Qtype)
	}
	if res.Forward {
		s.forward(w, r)
		return
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	m.Compress = true
	m.Rcode = res.Rcode
	m.Answer = res.Answer
	m.Extra = res.Extra
	if res.External != "" && (q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeAAAA) {
		// An ExternalName's target: the rest of the chain comes from upstream.
		up := new(mdns.Msg)
		up.SetQuestion(res.External, q.Qtype)
		up.RecursionDesired = true
		if reply, err := s.exchange(up, isTCP(w)); err == nil && reply.Rcode == mdns.RcodeSuccess {
			m.Answer = append(m.Answer, reply.Answer...)
		}
	}
	if res.Negative {
		m.Ns = []mdns.RR{s.zone.SOA()}
	}
	s.write(w, r, m)
}

// write sends m, fitted to what the client can take: its EDNS0 buffer (512 bytes without) over
// UDP, 64 KiB over TCP. Truncate sets TC when records had to go.
func (s *Server) write(w mdns.ResponseWriter, r, m *mdns.Msg) {
	size := mdns.MinMsgSize
	if isTCP(w) {
		size = mdns.MaxMsgSize
	} else if o := r.IsEdns0(); o != nil && int(o.UDPSize()) > size {
		size = int(o.UDPSize())
	}
	if o := r.IsEdns0(); o != nil && m.IsEdns0() == nil {
		m.SetEdns0(uint16(max(size, mdns.MinMsgSize)), o.Do())
	}
	m.Truncate(size)
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("writing a DNS answer", "name", r.Question[0].Name, "err", err)
	}
}

func isTCP(w mdns.ResponseWriter) bool {
	_, ok := w.RemoteAddr().(*net.TCPAddr)
	return ok
}

// forward relays r to the upstream resolvers, in order, until one answers.
func (s *Server) forward(w mdns.ResponseWriter, r *mdns.Msg) {
	reply, err := s.exchange(r, isTCP(w))
	if err != nil {
		s.log.Debug("forwarding failed", "name", r.Question[0].Name, "err", err)
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return
	}
	reply.Id = r.Id
	s.write(w, r, reply)
}

// exchange asks the upstreams: over UDP first (retrying over TCP when the answer was
// truncated) unless the client itself came over TCP.
func (s *Server) exchange(r *mdns.Msg, tcp bool) (*mdns.Msg, error) {
	if len(s.upstreams) == 0 {
		return nil, errors.New("no upstream resolvers")
	}
	var errs []error
	for _, up := range s.upstreams {
		netw := "udp"
		if tcp {
			netw = "tcp"
		}
		c := &mdns.Client{Net: netw, Timeout: forwardTimeout, UDPSize: mdns.DefaultMsgSize}
		reply, _, err := c.Exchange(r, up)
		if err == nil && reply.Truncated && netw == "udp" {
			c.Net = "tcp"
			if full, _, err2 := c.Exchange(r, up); err2 == nil {
				reply = full
			}
		}
		if err == nil {
			return reply, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", up, err))
	}
	return nil, errors.Join(errs...)
}

// normalizeUpstreams gives each upstream a port.
func normalizeUpstreams(in []string) ([]string, error) {
	var out []string
	for _, u := range in {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if ip := net.ParseIP(strings.Trim(u, "[]")); ip != nil {
			out = append(out, net.JoinHostPort(ip.String(), "53"))
			continue
		}
		host, port, err := net.SplitHostPort(u)
		if err != nil || net.ParseIP(host) == nil || port == "" {
			return nil, fmt.Errorf("dns: upstream %q is not an IP address or IP:port", u)
		}
		out = append(out, u)
	}
	return out, nil
}

// ResolvConfUpstreams reads the nameservers of a resolv.conf file (default: systemd's upstream
// file when present, else /etc/resolv.conf) as upstream addresses.
func ResolvConfUpstreams(path string) ([]string, error) {
	if path == "" {
		path = "/etc/resolv.conf"
		if _, err := os.Stat("/run/systemd/resolve/resolv.conf"); err == nil {
			path = "/run/systemd/resolve/resolv.conf"
		}
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	var servers []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			servers = append(servers, f[1])
		}
	}
	return normalizeUpstreams(servers)
}
