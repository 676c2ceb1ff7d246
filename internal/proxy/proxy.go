package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/vishvananda/netns"

	"github.com/skiff-dev/skiff/internal/network"
)

// Config is what a node's service proxy is told.
type Config struct {
	// NodeName is the node whose endpoints count as local and whose pods' hostPorts are mapped.
	NodeName string
	// Table names the nftables table (family ip); default TableName(NodeName).
	Table string
	// ServiceCIDR is the Service ClusterIP range (--service-cidr): what is bound there and not
	// DNATed is rejected.
	ServiceCIDR string
	// ClusterCIDR is the pods' range (--cluster-cidr); empty turns off masquerading of pod
	// traffic leaving it and of off-cluster sources reaching ClusterIPs.
	ClusterCIDR string
	// NetNS is the node's network namespace path; empty means the process's own.
	NetNS  string
	Logger *slog.Logger
}

// SliceServiceLabel ties an EndpointSlice to its Service.
const SliceServiceLabel = discoveryv1.LabelServiceName

// TableName derives the table's name from the node's: "skiff-" and up to 40 characters of the
// name, then 8 hex digits of a hash of the whole name, so that agents on one machine (or nodes
// whose names share a prefix) never share a table.
func TableName(nodeName string) string {
	var b strings.Builder
	b.WriteString("skiff-")
	for _, r := range strings.ToLower(nodeName) {
		if b.Len() >= 46 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		}
	}
	sum := sha256.Sum256([]byte(nodeName))
	return b.String() + "-" + hex.EncodeToString(sum[:4])
}

func (c *Config) model() (modelConfig, error) {
	if c.NodeName == "" {
		return modelConfig{}, errors.New("proxy: NodeName is required")
	}
	if c.Table == "" {
		c.Table = TableName(c.NodeName)
	}
	if len(c.Table) > 200 || strings.ContainsAny(c.Table, " \t\n\x00/") {
		return modelConfig{}, fmt.Errorf("proxy: table name %q is not valid", c.Table)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	m := modelConfig{NodeName: c.NodeName}
	if c.ServiceCIDR == "" {
		return m, errors.New("proxy: ServiceCIDR is required")
	}
	p, err := netip.ParsePrefix(c.ServiceCIDR)
	if err != nil || !p.Addr().Is4() {
		return m, fmt.Errorf("proxy: service CIDR %q is not an IPv4 prefix", c.ServiceCIDR)
	}
	m.ServiceCIDR = p.Masked()
	if c.ClusterCIDR != "" {
		p, err := netip.ParsePrefix(c.ClusterCIDR)
		if err != nil || !p.Addr().Is4() {
			return m, fmt.Errorf("proxy: cluster CIDR %q is not an IPv4 prefix", c.ClusterCIDR)
		}
		m.ClusterCIDR = p.Masked()
	}
	return m, nil
}

// Proxy keeps one node's table in line with the API.
type Proxy struct {
	cfg    Config
	model  modelConfig
	client kubernetes.Interface
	log    *slog.Logger
	w      *writer

	services cache.Indexer
	slices   cache.Indexer
	pods     cache.Indexer

	mu       sync.Mutex
	dirty    map[string]bool // owner keys: "svc/<ns>/<name>", "pod/<ns>/<name>"
	full     bool            // reconcile the whole table next
	nodeGone bool            // the Node was deleted: the table is gone until it comes back
	wake     chan struct{}

	state  map[string]*ruleset // what the table holds, by owner (only the sync loop touches it)
	synced chan struct{}
	once   sync.Once
}

// New validates cfg and opens netlink in the node's namespace; nothing is written until Run.
func New(client kubernetes.Interface, cfg Config) (*Proxy, error) {
	m, err := cfg.model()
	if err != nil {
		return nil, err
	}
	w, err := openWriter(cfg.NetNS, cfg.Table)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return &Proxy{cfg: cfg, model: m, client: client, w: w,
		log:   cfg.Logger.With("component", "proxy", "node", cfg.NodeName, "table", cfg.Table),
		dirty: map[string]bool{}, full: true, wake: make(chan struct{}, 1),
		state: map[string]*ruleset{}, synced: make(chan struct{})}, nil
}

// Cleanup deletes the table cfg names (skiff proxy --cleanup; node removal). It touches nothing
// else, and a missing table is not an error.
func Cleanup(cfg Config) error {
	if cfg.NodeName == "" && cfg.Table == "" {
		return errors.New("proxy: cleanup needs a node name or a table")
	}
	if cfg.Table == "" {
		cfg.Table = TableName(cfg.NodeName)
	}
	w, err := openWriter(cfg.NetNS, cfg.Table)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	defer w.close()
	return w.deleteTable()
}

// Synced is closed once the table matched the API for the first time.
func (p *Proxy) Synced() <-chan struct{} { return p.synced }

// Table is the nftables table the proxy owns.
func (p *Proxy) Table() string { return p.cfg.Table }

// Run programs the table until ctx ends. The rules stay when it returns.
func (p *Proxy) Run(ctx context.Context) error {
	defer p.w.close()
	p.sysctls()
	if err := p.w.setup(fixedChains(p.model)); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	all := informers.NewSharedInformerFactory(p.client, 0)
	svcInf := all.Core().V1().Services().Informer()
	sliceInf := all.Discovery().V1().EndpointSlices().Informer()
	if err := sliceInf.AddIndexers(cache.Indexers{"service": sliceServiceIndex}); err != nil {
		return err
	}
	mine := informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", p.cfg.NodeName).String()
	}))
	podInf := mine.Core().V1().Pods().Informer()
	nodes := informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.cfg.NodeName).String()
	}))
	nodeInf := nodes.Core().V1().Nodes().Informer()
	p.services, p.slices, p.pods = svcInf.GetIndexer(), sliceInf.GetIndexer(), podInf.GetIndexer()

	svcInf.AddEventHandler(p.handler(func(o any) []string {
		s, ok := o.(*v1.Service)
		if !ok {
			return nil
		}
		return []string{"svc/" + s.Namespace + "/" + s.Name}
	}))
	sliceInf.AddEventHandler(p.handler(func(o any) []string {
		s, ok := o.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[SliceServiceLabel] == "" {
			return nil
		}
		return []string{"svc/" + s.Namespace + "/" + s.Labels[SliceServiceLabel]}
	}))
	podInf.AddEventHandler(p.handler(func(o any) []string {
		pod, ok := o.(*v1.Pod)
		if !ok {
			return nil
		}
		return []string{"pod/" + pod.Namespace + "/" + pod.Name}
	}))
	nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.nodeBack() },
		UpdateFunc: func(any, any) { p.nodeBack() },
		DeleteFunc: func(any) { p.nodeDeleted() },
	})
	all.Start(ctx.Done())
	mine.Start(ctx.Done())
	nodes.Start(ctx.Done())
	defer all.Shutdown()
	defer mine.Shutdown()
	defer nodes.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svcInf.HasSynced, sliceInf.HasSynced, podInf.HasSynced, nodeInf.HasSynced) {
		return nil
	}
	p.log.Info("service proxy running", "serviceCIDR", p.cfg.ServiceCIDR, "clusterCIDR", p.cfg.ClusterCIDR)
	p.poke()
	return p.loop(ctx)
}

// handler enqueues the owners an object concerns, before and after an update.
func (p *Proxy) handler(keys func(any) []string) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.enqueue(keys(o)...) },
		UpdateFunc: func(old, o any) { p.enqueue(append(keys(old), keys(o)...)...) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			p.enqueue(keys(o)...)
		},
	}
}

func sliceServiceIndex(o any) ([]string, error) {
	s, ok := o.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[SliceServiceLabel] == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + s.Labels[SliceServiceLabel]}, nil
}

func (p *Proxy) enqueue(keys ...string) {
	if len(keys) == 0 {
		return
	}
	p.mu.Lock()
	for _, k := range keys {
		p.dirty[k] = true
	}
	p.mu.Unlock()
	p.poke()
}

func (p *Proxy) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Proxy) nodeDeleted() {
	p.mu.Lock()
	p.nodeGone = true
	p.mu.Unlock()
	p.poke()
}

func (p *Proxy) nodeBack() {
	p.mu.Lock()
	back := p.nodeGone
	p.nodeGone = false
	if back {
		p.full = true
	}
	p.mu.Unlock()
	if back {
		p.poke()
	}
}

// loop applies what changed, as one batch per wake-up: changes that arrive while a batch is
// written are folded into the next one.
func (p *Proxy) loop(ctx context.Context) error {
	removed := false
	retry := time.Duration(0)
	for {
		var timer <-chan time.Time
		if retry > 0 {
			timer = time.After(retry)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-timer:
		}
		p.mu.Lock()
		keys, full, gone := p.dirty, p.full, p.nodeGone
		p.dirty, p.full = map[string]bool{}, false
		p.mu.Unlock()
		var err error
		switch {
		case gone:
			if !removed {
				p.log.Info("node removed: deleting the service proxy's table")
				err = p.w.deleteTable()
				p.state = map[string]*ruleset{}
				removed = err == nil
			}
		case full || removed:
			if removed {
				if err = p.w.setup(fixedChains(p.model)); err != nil {
					break
				}
				removed = false
			}
			err = p.reconcile()
		default:
			err = p.syncKeys(keys)
		}
		if err != nil {
			retry = min(max(2*retry, 100*time.Millisecond), 10*time.Second)
			p.log.Error("programming nftables failed; reconciling the whole table next", "err", err, "retryIn", retry)
			p.mu.Lock()
			p.full = true
			p.mu.Unlock()
			continue
		}
		retry = 0
		if full && !gone {
			p.once.Do(func() { close(p.synced) })
		}
	}
}

// desired computes an owner's ruleset from the informers' caches.
func (p *Proxy) desired(key string) *ruleset {
	kind, nsName, _ := strings.Cut(key, "/")
	switch kind {
	case "svc":
		o, ok, _ := p.services.GetByKey(nsName)
		if !ok {
			return newRuleset()
		}
		objs, _ := p.slices.ByIndex("service", nsName)
		sl := make([]*discoveryv1.EndpointSlice, 0, len(objs))
		for _, o := range objs {
			sl = append(sl, o.(*discoveryv1.EndpointSlice))
		}
		return serviceRules(p.model, o.(*v1.Service), sl)
	case "pod":
		o, ok, _ := p.pods.GetByKey(nsName)
		if !ok {
			return newRuleset()
		}
		return hostPortRules(o.(*v1.Pod))
	}
	return newRuleset()
}

// syncKeys rewrites the changed owners only: the cost is the size of their rulesets.
func (p *Proxy) syncKeys(keys map[string]bool) error {
	if len(keys) == 0 {
		return nil
	}
	start := time.Now()
	next := map[string]*ruleset{}
	var ds []*delta
	for key := range keys {
		rs := p.desired(key)
		d := diff(p.state[key], rs)
		next[key] = rs
		if !d.empty() {
			ds = append(ds, d)
		}
	}
	if err := p.w.apply(ds); err != nil {
		return err
	}
	for key, rs := range next {
		p.flushConntrack(key, p.state[key], rs)
		if rs.empty() {
			delete(p.state, key)
		} else {
			p.state[key] = rs
		}
	}
	p.log.Debug("nftables synced", "owners", len(keys), "changed", len(ds), "took", time.Since(start))
	return nil
}

// reconcile makes the whole table match the API: after a start (adopting what an earlier run
// left, without a moment of missing rules for any owner) or after a failed batch.
func (p *Proxy) reconcile() error {
	start := time.Now()
	obs, err := p.w.read()
	if err != nil {
		return err
	}
	// Chains this process wrote keep their known rules; others are rewritten.
	for _, rs := range p.state {
		for name, rules := range rs.Chains {
			if obs.Chains[name] {
				obs.known(name, rules)
			}
		}
	}
	keys := map[string]bool{}
	for _, o := range p.services.List() {
		s := o.(*v1.Service)
		keys["svc/"+s.Namespace+"/"+s.Name] = true
	}
	for _, o := range p.pods.List() {
		pod := o.(*v1.Pod)
		keys["pod/"+pod.Namespace+"/"+pod.Name] = true
	}
	next := map[string]*ruleset{}
	var ds []*delta
	claimedChains, claimedElems, claimedSets := map[string]bool{}, map[elemKey]bool{}, map[string]bool{}
	for key := range keys {
		rs := p.desired(key)
		if rs.empty() {
			continue
		}
		old := newRuleset()
		for name := range rs.Chains {
			if obs.Chains[name] {
				old.Chains[name] = obs.rules(name)
				claimedChains[name] = true
			}
		}
		for k := range rs.Elements {
			if v, ok := obs.Elements[k]; ok {
				old.Elements[k] = v
				claimedElems[k] = true
			}
		}
		for name, t := range rs.Sets {
			if obs.Sets[name] {
				old.Sets[name] = t
				claimedSets[name] = true
			}
		}
		if d := diff(old, rs); !d.empty() {
			ds = append(ds, d)
		}
		next[key] = rs
	}
	orphans := &delta{}
	for _, k := range sortedElemKeys(obs.Elements) {
		if !claimedElems[k] {
			orphans.DelElems = append(orphans.DelElems, k)
		}
	}
	for _, name := range sortedKeys(obs.Chains) {
		if !claimedChains[name] {
			orphans.DelChains = append(orphans.DelChains, name)
		}
	}
	for _, name := range sortedKeys(obs.Sets) {
		if !claimedSets[name] {
			orphans.DelSets = append(orphans.DelSets, name)
		}
	}
	if !orphans.empty() {
		ds = append(ds, orphans)
	}
	if err := p.w.apply(ds); err != nil {
		return err
	}
	p.state = next
	p.log.Info("nftables reconciled", "owners", len(next), "changedOwners", len(ds), "orphanChains", len(orphans.DelChains),
		"orphanElements", len(orphans.DelElems), "took", time.Since(start))
	return nil
}

// sysctls turns on what a node needs for Service traffic, in the node's namespace only:
// forwarding (pods reach endpoints on other nodes, NodePorts reach pods) and conntrack for
// bridged traffic (a pod's reply to another pod on the same bridge must be un-DNATed).
func (p *Proxy) sysctls() {
	set := func() error {
		var errs []error
		for _, k := range []string{"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"} {
			path := filepath.Join("/proc/sys", k)
			b, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
				continue
			}
			if strings.TrimSpace(string(b)) == "1" {
				continue
			}
			if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
			}
		}
		return errors.Join(errs...)
	}
	var err error
	if p.cfg.NetNS == "" {
		err = set()
	} else {
		fd, ferr := netns.GetFromPath(p.cfg.NetNS)
		if ferr != nil {
			err = ferr
		} else {
			err = network.InNamespace(fd, set)
			fd.Close()
		}
	}
	if err != nil {
		p.log.Warn("node sysctls for Service traffic (br_netfilter loaded?)", "err", err)
	}
}
