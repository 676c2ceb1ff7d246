package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-dev/skiff/internal/network"
	"github.com/skiff-dev/skiff/internal/network/ipam"
	"github.com/skiff-dev/skiff/internal/network/overlay"
)

// Overlay modes (Config.Overlay).
const (
	// OverlayAuto runs the VXLAN overlay when the node IP sits on a non-loopback interface of
	// the node's namespace, and none otherwise (a one-node cluster on loopback).
	OverlayAuto = "auto"
	// OverlayVXLAN insists on the overlay: the agent fails to start without an uplink.
	OverlayVXLAN = "vxlan"
	// OverlayNone runs the node's pod network alone; pods reach other nodes' pods only if
	// something else routes them.
	OverlayNone = "none"
)

// errNetworkNotReady is what a pod's network setup meets before the node knows its pod CIDR.
var errNetworkNotReady = errors.New("pod network not ready: waiting for the Node's pod CIDR")

// podNetwork is the agent's pod network: the node's bridge network, built as soon as the pod
// CIDR is known (from the configuration at once, or from the Node once the node IPAM controller
// gave it one), and the overlay to the other nodes when it runs. Before the pod CIDR is known,
// Attach fails with errNetworkNotReady and Detach has nothing to undo.
type podNetwork struct {
	cfg network.Config // everything but the pod CIDR until it is known
	ov  *overlay.Overlay
	log *slog.Logger

	mu sync.RWMutex
	n  *network.Network
}

// newPodNetwork prepares the pod network and, per mode, the overlay; the MTU of bridge and veths
// leaves room for the overlay's encapsulation.
func newPodNetwork(cfg Config) (*podNetwork, error) {
	p := &podNetwork{log: cfg.Logger.With("component", "podnetwork", "node", cfg.NodeName),
		cfg: network.Config{BridgeName: cfg.BridgeName, StateDir: filepath.Join(cfg.DataDir, "network"), NetNS: cfg.NetNS}}
	switch cfg.Overlay {
	case OverlayNone:
	case OverlayAuto, OverlayVXLAN:
		ov, err := overlay.New(overlay.Config{NodeName: cfg.NodeName, NodeIP: cfg.NodeIP, NetNS: cfg.NetNS,
			Bridge: cfg.BridgeName, Port: cfg.VXLANPort, Logger: cfg.Logger})
		switch {
		case err == nil:
			p.ov = ov
			p.cfg.MTU = ov.MTU()
		case cfg.Overlay == OverlayAuto && errors.Is(err, overlay.ErrNoUplink):
			p.log.Info("no VXLAN overlay: the node IP is not on a network interface", "nodeIP", cfg.NodeIP.String())
		default:
			return nil, err
		}
	default:
		return nil, fmt.Errorf("kubelet: overlay %q: want %s, %s or %s", cfg.Overlay, OverlayAuto, OverlayVXLAN, OverlayNone)
	}
	return p, nil
}

// start builds the bridge network for cidr and sets it, and the overlay device, up. Once started
// the pod CIDR stays: a Node's pod CIDR cannot change.
func (p *podNetwork) start(cidr string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		cfg := p.cfg
		cfg.PodCIDR = cidr
		n, err := network.New(cfg)
		if err != nil {
			return err
		}
		p.n = n
	}
	if err := p.n.Setup(); err != nil {
		return err
	}
	if p.ov != nil {
		prefix, err := netip.ParsePrefix(cidr)
		if err != nil {
			return err
		}
		if err := p.ov.Setup(prefix); err != nil {
			return err
		}
	}
	return nil
}

func (p *podNetwork) get() *network.Network {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.n
}

// ready is a node readiness check: NotReady until pods can be given addresses.
func (p *podNetwork) ready() error {
	if p.get() == nil {
		return fmt.Errorf("container runtime network not ready: %w", errNetworkNotReady)
	}
	return nil
}

// Setup sets the network up again if it is known; before that there is nothing to set up.
func (p *podNetwork) Setup() error {
	if n := p.get(); n != nil {
		return n.Setup()
	}
	return nil
}

func (p *podNetwork) Attach(podUID, netnsPath string) (net.IP, error) {
	n := p.get()
	if n == nil {
		return nil, errNetworkNotReady
	}
	return n.Attach(podUID, netnsPath)
}

// Detach before the network is known has nothing to undo in this run; what an earlier run left
// is collected by housekeeping through Allocations once the network is up.
func (p *podNetwork) Detach(podUID, netnsPath string) error {
	n := p.get()
	if n == nil {
		return nil
	}
	return n.Detach(podUID, netnsPath)
}

func (p *podNetwork) Allocations() ([]ipam.Allocation, error) {
	n := p.get()
	if n == nil {
		return nil, nil
	}
	return n.Allocations()
}

func (p *podNetwork) Close() error {
	if n := p.get(); n != nil {
		n.Close()
	}
	if p.ov != nil {
		p.ov.Close()
	}
	return nil
}

// followNodes runs what needs the Node objects: waiting for this node's pod CIDR when none was
// configured, and the overlay. It returns once the pod network is up (or ctx ended); the
// informer and the overlay run on until ctx ends.
func (k *Kubelet) followNodes(ctx context.Context) error {
	p := k.podNet
	if p == nil || (p.ov == nil && p.get() != nil) {
		return nil
	}
	factory := informers.NewSharedInformerFactory(k.client, 0)
	inf := factory.Core().V1().Nodes().Informer()
	lister := factory.Core().V1().Nodes().Lister()
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	go func() { <-ctx.Done(); factory.Shutdown() }()
	if p.get() == nil {
		start := time.Now()
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			n, err := lister.Get(k.cfg.NodeName)
			if err == nil {
				if cidr := nodePodCIDR(n); cidr != "" {
					if err := p.start(cidr); err != nil {
						return fmt.Errorf("pod network for %s: %w", cidr, err)
					}
					k.log.Info("adopted the Node's pod CIDR", "podCIDR", cidr, "waited", time.Since(start).Round(time.Millisecond))
					break
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
			case <-tick.C:
				k.log.Warn("still waiting for the Node's pod CIDR (is the node IPAM controller running with --allocate-node-cidrs?)",
					"waited", time.Since(start).Round(time.Second))
			}
		}
	}
	inf.RemoveEventHandler(reg)
	if p.ov != nil {
		go func() {
			if err := p.ov.Run(ctx, k.client, inf); err != nil {
				k.log.Error("overlay stopped", "err", err)
			}
		}()
	}
	return nil
}

// nodePodCIDR is the Node's first IPv4 pod CIDR.
func nodePodCIDR(n *v1.Node) string {
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
			return c
		}
	}
	return ""
}
