package nodestatus

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-dev/skiff/internal/version"
)

// Upstream kubelet defaults, kept so that controllers tuned for upstream (node lifecycle grace
// periods, lease expiry) behave the same against skiff nodes.
const (
	DefaultStatusUpdateFrequency = 10 * time.Second
	DefaultStatusReportFrequency = 5 * time.Minute
	DefaultLeaseDuration         = 40 * time.Second
	DefaultMaxPods               = 110
	DefaultKubeletPort           = 10250
	DefaultPressureTransition    = 5 * time.Minute
	// DefaultReadinessPollInterval is how often failing readiness checks are re-run between status
	// updates, so that a node turns Ready within a fraction of a second of its runtime and network
	// coming up instead of at the next 10 s tick (upstream's fast status update polls at 100 ms).
	DefaultReadinessPollInterval = 100 * time.Millisecond
)

// ReadinessCheck reports why the node cannot run pods yet (runtime down, network not ready); nil
// means this part is ready. Checks run on every status update and must be quick and side-effect
// free. The error text becomes the Ready condition's message, so phrase it for `kubectl describe
// node` ("container runtime network not ready: bridge missing").
type ReadinessCheck func() error

// Thresholds are the hard eviction signals that turn the pressure conditions on, and that upstream
// also subtracts from allocatable. A zero field disables that signal.
type Thresholds struct {
	// MemoryAvailable: MemoryPressure when /proc/meminfo's MemAvailable drops below it
	// (memory.available, upstream default 100Mi).
	MemoryAvailable resource.Quantity
	// NodeFSAvailable: DiskPressure when the data dir's filesystem has less than this fraction of
	// its capacity free (nodefs.available, upstream default 10%).
	NodeFSAvailable float64
	// NodeFSInodesFree: DiskPressure when less than this fraction of the inodes is free
	// (nodefs.inodesFree, upstream default 5%).
	NodeFSInodesFree float64
	// PIDAvailable: PIDPressure when less than this fraction of the host's pid space is free
	// (pid.available). Upstream sets no default, so its PIDPressure only turns on when configured;
	// skiff defaults to 5% so the condition means something out of the box.
	PIDAvailable float64
}

// DefaultThresholds returns upstream's hard eviction defaults on Linux, plus a pid threshold.
func DefaultThresholds() Thresholds {
	return Thresholds{
		MemoryAvailable:  resource.MustParse("100Mi"),
		NodeFSAvailable:  0.10,
		NodeFSInodesFree: 0.05,
		PIDAvailable:     0.05,
	}
}

// Config describes the node. Only NodeName and a client (given to New) are required.
type Config struct {
	// NodeName is the Node object's name.
	NodeName string
	// Hostname fills the kubernetes.io/hostname label and the Hostname address; default NodeName,
	// which keeps several agents on one machine distinct.
	Hostname string
	// NodeIP is reported as the InternalIP address. Nil picks the first global unicast IPv4
	// address of the host's interfaces, as upstream does without --node-ip.
	NodeIP net.IP

	// Labels are added to the Node when it is created (upstream --node-labels); they win over the
	// default labels. Later changes are left to whoever made them, except for default labels.
	Labels map[string]string
	// Annotations are the agent's own annotations (e.g. skiff.dev/local-path-root): set when the
	// Node is created and put back on an existing Node at registration, as the default labels
	// are. Other annotations belong to others and are never touched.
	Annotations map[string]string
	// RegisterWithTaints are set when the Node is created (upstream --register-with-taints) and
	// never reconciled afterwards: from then on `kubectl taint` and controllers own them.
	RegisterWithTaints []corev1.Taint
	// Unschedulable registers the Node cordoned, with the node.kubernetes.io/unschedulable taint
	// (upstream --register-schedulable=false).
	Unschedulable bool
	// PodCIDR is written to spec.podCIDR(s) when the Node has none yet. A CIDR already on the
	// Node (allocated by the controller manager) wins; PodCIDR() reports the effective one.
	PodCIDR string

	// DataDir is the node's data directory: ephemeral-storage capacity and disk pressure come
	// from statfs of its filesystem. Empty: no ephemeral-storage is reported.
	DataDir string
	// KubeletPort is status.daemonEndpoints.kubeletEndpoint.port; default 10250.
	KubeletPort int
	// MaxPods is the pods capacity; default 110.
	MaxPods int
	// Reserved is subtracted from capacity to give allocatable (upstream --kube-reserved plus
	// --system-reserved); default none.
	Reserved corev1.ResourceList
	// EvictionHard sets the pressure thresholds (also subtracted from allocatable); nil means
	// DefaultThresholds().
	EvictionHard *Thresholds
	// PressureTransitionPeriod keeps a pressure condition on for this long after the signal was
	// last over its threshold, so it does not flap (upstream
	// --eviction-pressure-transition-period); default 5m.
	PressureTransitionPeriod time.Duration

	// RuntimeVersion is nodeInfo.containerRuntimeVersion; default "skiff://<release>".
	RuntimeVersion string
	// MachineID and SystemUUID override what the host reports; agents sharing one machine share
	// /etc/machine-id, so harnesses may give each its own.
	MachineID, SystemUUID string

	// ReadinessChecks all have to pass for Ready=True.
	ReadinessChecks []ReadinessCheck
	// StatusSetters run after the built-in ones on the Node about to be compared and patched
	// (images, volumesInUse, runtimeHandlers). They must be deterministic: a setter that changes
	// the status on every call forces a write every StatusUpdateFrequency.
	StatusSetters []func(*corev1.Node)

	// StatusUpdateFrequency is how often the status is computed (and written if it changed);
	// default 10s.
	StatusUpdateFrequency time.Duration
	// StatusReportFrequency is how often the status is written even when nothing changed;
	// default 5m (upstream nodeStatusReportFrequency).
	StatusReportFrequency time.Duration
	// LeaseDuration is the Lease's leaseDurationSeconds; default 40s.
	LeaseDuration time.Duration
	// LeaseRenewInterval is how often the Lease is renewed; default a quarter of LeaseDuration
	// (10 s), as upstream.
	LeaseRenewInterval time.Duration
	// ReadinessPollInterval: see DefaultReadinessPollInterval.
	ReadinessPollInterval time.Duration

	// Recorder, when set, receives the node's events (NodeReady, NodeHasDiskPressure, ...).
	Recorder record.EventRecorder
	// Clock drives every timer; tests inject a fake one. Default: the real clock.
	Clock clock.WithTicker
	// Logger gets the agent's structured logs; default: discarded.
	Logger *slog.Logger
	// HostRoot is where /proc, /sys and /etc are read from; default "/". Tests point it at
	// testdata.
	HostRoot string
}

func (c *Config) complete() error {
	if c.NodeName == "" {
		return errors.New("nodestatus: NodeName is required")
	}
	if c.Hostname == "" {
		c.Hostname = c.NodeName
	}
	if c.NodeIP == nil {
		c.NodeIP = defaultNodeIP()
	}
	if c.PodCIDR != "" {
		if _, _, err := net.ParseCIDR(c.PodCIDR); err != nil {
			return fmt.Errorf("nodestatus: PodCIDR: %w", err)
		}
	}
	if c.KubeletPort == 0 {
		c.KubeletPort = DefaultKubeletPort
	}
	if c.MaxPods == 0 {
		c.MaxPods = DefaultMaxPods
	}
	if c.EvictionHard == nil {
		t := DefaultThresholds()
		c.EvictionHard = &t
	}
	if c.PressureTransitionPeriod == 0 {
		c.PressureTransitionPeriod = DefaultPressureTransition
	}
	if c.RuntimeVersion == "" {
		c.RuntimeVersion = "skiff://" + version.Version
	}
	if c.StatusUpdateFrequency == 0 {
		c.StatusUpdateFrequency = DefaultStatusUpdateFrequency
	}
	if c.StatusReportFrequency == 0 {
		c.StatusReportFrequency = DefaultStatusReportFrequency
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.LeaseRenewInterval == 0 {
		c.LeaseRenewInterval = c.LeaseDuration / 4
	}
	if c.ReadinessPollInterval == 0 {
		c.ReadinessPollInterval = DefaultReadinessPollInterval
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// defaultNodeIP picks the address upstream would fall back to on a host without --node-ip: the
// first global unicast IPv4 address, else the first global unicast IPv6 one.
func defaultNodeIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var v6 net.IP
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || !ipn.IP.IsGlobalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil {
			return ipn.IP
		}
		if v6 == nil {
			v6 = ipn.IP
		}
	}
	return v6
}
