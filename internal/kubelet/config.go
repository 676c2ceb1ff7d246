package kubelet

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/skiff-dev/skiff/internal/kubelet/podcgroups"
	"github.com/skiff-dev/skiff/internal/network"
	"github.com/skiff-dev/skiff/internal/runtime"
)

// Config is what a node agent is told. NodeName, NodeIP and DataDir are required; the rest has
// defaults derived from them so that several agents run side by side on one machine.
type Config struct {
	NodeName string
	NodeIP   net.IP
	// DataDir holds everything the agent keeps on disk: images/, runtime/, network/, pods/, logs/.
	DataDir string
	// CgroupRoot is the cgroup every pod's cgroup lives below (relative to the cgroup mounts);
	// default "/skiff-<node name>".
	CgroupRoot string
	// PodCIDR is the node's pod range. Empty: the agent adopts the Node's spec.podCIDR, which the
	// node IPAM controller allocates; API pods wait (and the node is NotReady) until it is there.
	PodCIDR string
	// Overlay is OverlayAuto (default), OverlayVXLAN or OverlayNone: whether the node's pod
	// network joins the other nodes' over VXLAN.
	Overlay string
	// VXLANPort is the overlay's UDP port (default 8472).
	VXLANPort int
	// BridgeName defaults to network.BridgeName(NodeName).
	BridgeName string
	// NetNS is the node's network namespace path; empty means the process's own. Tests run
	// each node in a namespace of its own.
	NetNS string
	// ServiceCIDR turns the node's service proxy (internal/proxy) on: it programs the node's
	// namespace (NetNS) for Services of this range. Empty: no proxy (tests that need none).
	ServiceCIDR string
	// ClusterCIDR is the pods' range across nodes, for the proxy's masquerading (optional).
	ClusterCIDR string
	// KubeletPort is the port of the node agent's HTTPS API, advertised in the Node's
	// daemonEndpoints (default 10250).
	KubeletPort int32
	// ServingCert, when set, turns the node agent's HTTPS API (logs, exec, attach,
	// port-forward) on; ClientCA verifies callers and APIAllowedUsers (default: the API server's
	// kubelet client) says who may call. APIListener replaces NodeIP:KubeletPort (tests use
	// port 0; the Node then advertises the port it got).
	ServingCert     *tls.Certificate
	ClientCA        *x509.CertPool
	APIAllowedUsers []string
	APIListener     net.Listener

	// PodManifestPath is a directory of pod manifests run as static pods on this node, each
	// with a mirror pod in the API; re-read every StaticPodPollInterval (default 20 s).
	PodManifestPath       string
	StaticPodPollInterval time.Duration

	// NodeLeaseDuration is the heartbeat Lease's leaseDurationSeconds (upstream
	// nodeLeaseDurationSeconds); the Lease is renewed every quarter of it. Default 40 s. Tests
	// that shorten the node lifecycle controller's grace period shorten it too, or a healthy
	// node would look silent between two renewals.
	NodeLeaseDuration time.Duration

	// GC bounds what dead containers and unused images may keep on the node.
	GC GCPolicy

	RegistryMirrors    map[string][]string
	InsecureRegistries []string

	// ResyncInterval is how often every pod is synced even without a change (default 10 s).
	ResyncInterval time.Duration
	// ResolvConf is the host's resolver file pods with dnsPolicy Default get (default: systemd's
	// upstream file when present, else /etc/resolv.conf).
	ResolvConf string
	// ClusterDNS are the cluster DNS addresses (the kube-dns Service IP) that pods with
	// dnsPolicy ClusterFirst resolve through; without them ClusterFirst falls back to Default.
	ClusterDNS []net.IP
	// ClusterDomain is the cluster's DNS domain (default cluster.local).
	ClusterDomain string
	Logger        *slog.Logger

	// Runtime, Images and Network replace the real implementations (tests use fakes; the real
	// ones are built from DataDir otherwise).
	Runtime runtime.Runtime
	Images  Images
	Network Network
	// PodCgroups manages the pods' cgroups below CgroupRoot; by default on the host's
	// cgroupfs (tests lay hierarchies out in a temp dir).
	PodCgroups *podcgroups.Manager
	// Node registers and maintains the Node object; a minimal registration by default.
	Node NodeReporter
	// Clock drives back-offs and resyncs.
	Clock clock.WithTicker
}

func (c *Config) defaults() error {
	if c.NodeName == "" {
		return errors.New("kubelet: NodeName is required")
	}
	if c.DataDir == "" {
		return errors.New("kubelet: DataDir is required")
	}
	if c.NodeIP == nil {
		c.NodeIP = net.ParseIP("127.0.0.1")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	c.DataDir = abs
	if c.CgroupRoot == "" {
		c.CgroupRoot = CgroupRoot(c.NodeName)
	}
	if !strings.HasPrefix(c.CgroupRoot, "/") {
		return fmt.Errorf("kubelet: cgroup root %q must be absolute", c.CgroupRoot)
	}
	if c.Overlay == "" {
		c.Overlay = OverlayAuto
	}
	if c.BridgeName == "" {
		c.BridgeName = network.BridgeName(c.NodeName)
	}
	if c.KubeletPort == 0 {
		c.KubeletPort = 10250
	}
	if c.NodeLeaseDuration < 0 || (c.NodeLeaseDuration > 0 && c.NodeLeaseDuration%time.Second != 0) {
		// The Lease holds whole seconds: a fraction would be advertised as something else.
		return fmt.Errorf("kubelet: node lease duration %v must be a positive whole number of seconds", c.NodeLeaseDuration)
	}
	if c.StaticPodPollInterval <= 0 {
		c.StaticPodPollInterval = staticPollInterval
	}
	if c.PodManifestPath != "" {
		abs, err := filepath.Abs(c.PodManifestPath)
		if err != nil {
			return err
		}
		c.PodManifestPath = abs
	}
	if err := c.GC.defaults(); err != nil {
		return err
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	return nil
}

// CgroupRoot derives a node's cgroup root from its name: "/skiff-<name>", with characters a
// cgroup directory name should not carry replaced.
func CgroupRoot(nodeName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(nodeName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return "/skiff-" + b.String()
}
