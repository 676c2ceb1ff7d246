package controllermanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-dev/skiff/internal/controller/nodelifecycle"
	"github.com/skiff-dev/skiff/internal/informershare"
	"github.com/skiff-dev/skiff/internal/leaderlease"
)

// Runner is a built controller.
type Runner interface {
	Run(ctx context.Context, workers int)
}

// Descriptor names a controller and how to build it.
type Descriptor struct {
	Name string
	// Workers is the default number of workers.
	Workers int
	// DisabledByDefault leaves it out of `*`.
	DisabledByDefault bool
	New               func(*Context) (Runner, error)
}

// ErrDisabled, returned by a Descriptor's New, says the controller is switched off by its own
// settings (e.g. node IPAM without --allocate-node-cidrs); the manager skips it quietly.
var ErrDisabled = errors.New("disabled by its settings")

// Context is what a controller is built from.
type Context struct {
	Informers informers.SharedInformerFactory
	Logger    *slog.Logger
	// NodeIPAM configures the node IPAM controller.
	NodeIPAM NodeIPAM
	// NodeMonitorGracePeriod and NodeMonitorPeriod are the manager's settings of the same name.
	NodeMonitorGracePeriod, NodeMonitorPeriod time.Duration

	restConfig  *rest.Config
	broadcaster record.EventBroadcaster
}

// Client returns a client whose user agent names the controller, so the API server's logs and
// audit tell controllers apart.
func (c *Context) Client(name string) (kubernetes.Interface, error) {
	rc := rest.CopyConfig(c.restConfig)
	rc.UserAgent = "skiff-controller-manager/" + name
	return kubernetes.NewForConfig(rc)
}

// MetadataClient returns a metadata-only client (reads, patches and deletes of any resource's
// object metadata), named as Client names its clients.
func (c *Context) MetadataClient(name string) (metadata.Interface, error) {
	rc := rest.CopyConfig(c.restConfig)
	rc.UserAgent = "skiff-controller-manager/" + name
	return metadata.NewForConfig(rc)
}

// Scales returns a client of the scale subresource of any resource the mapper knows.
func (c *Context) Scales(name string, mapper meta.RESTMapper, disc discovery.DiscoveryInterface) (scale.ScalesGetter, error) {
	rc := rest.CopyConfig(c.restConfig)
	rc.UserAgent = "skiff-controller-manager/" + name
	return scale.NewForConfig(rc, mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(disc))
}

// Recorder returns an event recorder whose events name the component.
func (c *Context) Recorder(component string) record.EventRecorder {
	return c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
}

// LeaderElection configures the Lease (namespace and name default to
// kube-system/kube-controller-manager).
type LeaderElection = leaderlease.Config

// NodeIPAM is what the node IPAM controller is told (upstream's --allocate-node-cidrs,
// --cluster-cidr and --node-cidr-mask-size).
type NodeIPAM struct {
	// AllocateNodeCIDRs turns the controller on.
	AllocateNodeCIDRs bool
	// ClusterCIDR is the pod range (default 10.244.0.0/16).
	ClusterCIDR string
	// NodeCIDRMaskSize is each Node's share (default 24).
	NodeCIDRMaskSize int
}

// Config is what the manager is told.
type Config struct {
	// NodeIPAM configures pod CIDR allocation to Nodes.
	NodeIPAM NodeIPAM
	// RESTConfig reaches the API server with the controller manager's identity.
	RESTConfig *rest.Config
	// Controllers selects controllers as upstream's --controllers: "*" (all on by default),
	// "name", "-name". Empty means "*".
	Controllers []string
	// Workers overrides the worker count per controller name.
	Workers map[string]int
	// LeaderElect makes the manager run controllers only while it holds the Lease.
	LeaderElect    bool
	LeaderElection LeaderElection
	// SharedPods, when set, is the pod informer the controllers share with other components of
	// their process (the scheduler in `skiff server`), instead of a watch of their own.
	SharedPods *informershare.Shared
	// NodeMonitorGracePeriod is how long a node may go without a heartbeat before the node
	// lifecycle controller marks it Unknown (upstream --node-monitor-grace-period, default 40 s);
	// NodeMonitorPeriod is the pace of its checks (--node-monitor-period, default 5 s). Zero
	// keeps the default.
	NodeMonitorGracePeriod, NodeMonitorPeriod time.Duration
	// ResyncPeriod of the shared informers (0: no periodic resync; controllers are level-
	// triggered by events and requeue themselves on time-based conditions).
	ResyncPeriod time.Duration
	Logger       *slog.Logger
	// OnStarted is called once the controllers run (after caches synced); tests wait on it.
	OnStarted func()
}

// Enabled resolves a --controllers list against the known controllers.
func Enabled(selection []string) ([]Descriptor, error) {
	if len(selection) == 0 {
		selection = []string{"*"}
	}
	known := map[string]bool{}
	for _, d := range Controllers {
		known[d.Name] = true
	}
	star := false
	on, off := map[string]bool{}, map[string]bool{}
	for _, s := range selection {
		s = strings.TrimSpace(s)
		switch {
		case s == "*":
			star = true
		case strings.HasPrefix(s, "-"):
			if !known[s[1:]] {
				return nil, fmt.Errorf("%q is not in the list of known controllers", s[1:])
			}
			off[s[1:]] = true
		case s == "":
		default:
			if !known[s] {
				return nil, fmt.Errorf("%q is not in the list of known controllers", s)
			}
			on[s] = true
		}
	}
	var out []Descriptor
	for _, d := range Controllers {
		if off[d.Name] {
			continue
		}
		if on[d.Name] || (star && !d.DisabledByDefault) {
			out = append(out, d)
		}
	}
	return out, nil
}

// Names lists the known controllers (for flag help).
func Names() []string {
	var out []string
	for _, d := range Controllers {
		out = append(out, d.Name)
	}
	slices.Sort(out)
	return out
}

// Run runs the selected controllers until ctx ends, under leader election when asked.
func Run(ctx context.Context, cfg Config) error {
	if cfg.RESTConfig == nil {
		return errors.New("controller manager: no API server configuration")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "controller-manager")
	selected, err := Enabled(cfg.Controllers)
	if err != nil {
		return err
	}
	if err := CheckNodeMonitor(cfg.NodeMonitorGracePeriod, cfg.NodeMonitorPeriod); err != nil {
		return err
	}
	for name, n := range cfg.Workers {
		if !slices.ContainsFunc(Controllers, func(d Descriptor) bool { return d.Name == name }) {
			return fmt.Errorf("workers for unknown controller %q", name)
		}
		if n < 1 {
			return fmt.Errorf("workers for %q must be at least 1, got %d", name, n)
		}
	}
	client, err := kubernetes.NewForConfig(cfg.RESTConfig)
	if err != nil {
		return err
	}
	run := func(ctx context.Context) { runControllers(ctx, cfg, client, selected, log) }
	if !cfg.LeaderElect {
		run(ctx)
		return nil
	}
	le := cfg.LeaderElection
	if le.Namespace == "" {
		le.Namespace = "kube-system"
	}
	if le.Name == "" {
		le.Name = "kube-controller-manager"
	}
	if le.Logger == nil {
		le.Logger = log
	}
	// Running on after losing the Lease would have two managers acting at once: Run says so
	// with an error.
	return leaderlease.Run(ctx, client, le, run)
}

func runControllers(ctx context.Context, cfg Config, client kubernetes.Interface, selected []Descriptor, log *slog.Logger) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, cfg.ResyncPeriod, informers.WithTransform(informershare.DropManagedFields))
	if cfg.SharedPods != nil {
		cfg.SharedPods.Use(factory, &corev1.Pod{})
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	cc := &Context{Informers: factory, Logger: cfg.Logger, NodeIPAM: cfg.NodeIPAM, restConfig: cfg.RESTConfig, broadcaster: broadcaster,
		NodeMonitorGracePeriod: cfg.NodeMonitorGracePeriod, NodeMonitorPeriod: cfg.NodeMonitorPeriod}
	type started struct {
		name    string
		r       Runner
		workers int
	}
	var runners []started
	for _, d := range selected {
		r, err := d.New(cc)
		if errors.Is(err, ErrDisabled) {
			log.Info("controller not started", "controller", d.Name, "reason", err)
			continue
		}
		if err != nil {
			log.Error("controller not started", "controller", d.Name, "err", err)
			continue
		}
		n := d.Workers
		if w, ok := cfg.Workers[d.Name]; ok {
			n = w
		}
		runners = append(runners, started{d.Name, r, max(n, 1)})
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for t, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			log.Error("informer cache not synced", "type", t.String())
			return
		}
	}
	var wg sync.WaitGroup
	for _, s := range runners {
		log.Info("starting controller", "controller", s.name, "workers", s.workers)
		wg.Go(func() { s.r.Run(ctx, s.workers) })
	}
	if cfg.OnStarted != nil {
		cfg.OnStarted()
	}
	wg.Wait()
}

// CheckNodeMonitor validates the node monitor settings as the node lifecycle controller will use
// them (zero: its default), so that `skiff controller-manager` and `skiff server` refuse them at
// start rather than log a controller that never ran.
func CheckNodeMonitor(grace, period time.Duration) error {
	if grace < 0 || period < 0 {
		return fmt.Errorf("node monitor grace period %v and period %v must not be negative", grace, period)
	}
	if grace == 0 {
		grace = nodelifecycle.DefaultGracePeriod
	}
	if period == 0 {
		period = nodelifecycle.DefaultMonitorPeriod
	}
	if period >= grace {
		// A pass slower than the grace would mark Unknown a node that only missed one check.
		return fmt.Errorf("node monitor period %v must be shorter than the node monitor grace period %v", period, grace)
	}
	return nil
}
