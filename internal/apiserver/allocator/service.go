package allocator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The etcd keys of the two bitmaps. They sit beside, not inside, the /registry/<group>/<resource>/
// prefixes that the storage layer's watch cache dispatches, so no resource ever sees them.
const (
	ServiceIPsKey       = "/registry/ranges/serviceips"
	ServiceNodePortsKey = "/registry/ranges/servicenodeports"
)

// Config is what the Service allocator needs.
type Config struct {
	Client      *clientv3.Client
	ServiceCIDR IPRange
	NodePorts   PortRange
	// ListServices returns every stored Service, for repair. It may lag writes by moments (a
	// cache): repair only marks what it finds and frees only what stays unowned for several passes.
	ListServices func(ctx context.Context) ([]*corev1.Service, error)
	// RepairInterval is the time between repair passes (default 3 minutes).
	RepairInterval time.Duration
	// LeakPasses is how many consecutive repair passes must find an allocated value owned by no
	// Service before it is freed (default 3, so at least two intervals).
	LeakPasses int
	Logger     *slog.Logger
}

// Services allocates Service cluster IPs and node ports. Its methods are the API server's
// resource hooks for services.
type Services struct {
	cfg   Config
	ips   *Range
	ports *Range
	log   *slog.Logger

	repairMu sync.Mutex
	ipLeaks  map[int]int // offset -> consecutive passes that found it unowned
	npLeaks  map[int]int
}

// New builds the allocator; nothing is read from etcd until the first use or Repair.
func New(cfg Config) (*Services, error) {
	if cfg.Client == nil {
		return nil, errors.New("allocator: no etcd client")
	}
	if cfg.ServiceCIDR.Size() == 0 || cfg.NodePorts.Size == 0 {
		return nil, errors.New("allocator: service CIDR and node port range are required")
	}
	if cfg.RepairInterval <= 0 {
		cfg.RepairInterval = 3 * time.Minute
	}
	if cfg.LeakPasses <= 0 {
		cfg.LeakPasses = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "service-allocator")
	cidr, np := cfg.ServiceCIDR, cfg.NodePorts
	return &Services{
		cfg: cfg, log: log,
		// Dynamic addresses never take offset 0: it is the kubernetes Service's, which the API
		// server (re)creates by asking for it.
		ips:     newRange(cfg.Client, ServiceIPsKey, cidr.String(), cidr.Size(), 1, cidr.staticBand(), log),
		ports:   newRange(cfg.Client, ServiceNodePortsKey, np.String(), np.Size, 0, np.staticBand(), log),
		ipLeaks: map[int]int{}, npLeaks: map[int]int{},
	}, nil
}

var serviceKind = schema.GroupKind{Kind: "Service"}

func needsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone || (len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone)
}

// heldIP is the primary cluster IP a stored Service owns, if any.
func heldIP(svc *corev1.Service) string {
	if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName || isHeadless(svc) {
		return ""
	}
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs[0]
	}
	return svc.Spec.ClusterIP
}

// heldPorts are the node ports (health check port included) a stored Service owns.
func heldPorts(svc *corev1.Service) map[int32]bool {
	out := map[int32]bool{}
	if svc == nil {
		return out
	}
	if needsNodePorts(svc) {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				out[p.NodePort] = true
			}
		}
	}
	if needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort != 0 {
		out[svc.Spec.HealthCheckNodePort] = true
	}
	return out
}

// plan is what one write needs from the two ranges.
type plan struct {
	ipPath  *field.Path
	ipValue string
	ipWant  int  // specific offset requested (-1: out of range), when ipAsk
	ipAsk   bool // a specific address must be reserved
	ipDraw  bool // an address must be drawn

	portWant  []int // specific offsets (-1: out of range)
	portPaths []*field.Path
	portVals  []int32
	portDraws []func(port int32) // where each drawn port goes

	releaseIP    string // on success, the address the old object held and the new one does not
	releasePorts []int32
}

func (a *Services) BeginCreate(ctx context.Context, obj runtime.Object, dryRun bool) (func(bool), error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("allocator: expected a Service, got %T", obj))
	}
	return a.begin(ctx, svc, nil, dryRun)
}

func (a *Services) BeginUpdate(ctx context.Context, obj, old runtime.Object, dryRun bool) (func(bool), error) {
	svc, ok1 := obj.(*corev1.Service)
	oldSvc, ok2 := old.(*corev1.Service)
	if !ok1 || !ok2 {
		return nil, apierrors.NewInternalError(fmt.Errorf("allocator: expected Services, got %T and %T", obj, old))
	}
	return a.begin(ctx, svc, oldSvc, dryRun)
}

// AfterDelete frees what the deleted Service held. A failure leaves a leak that repair frees.
func (a *Services) AfterDelete(ctx context.Context, obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	a.release(ctx, svc, heldIP(svc), keys(heldPorts(svc)))
}

func keys(m map[int32]bool) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (a *Services) release(ctx context.Context, svc *corev1.Service, ip string, ports []int32) {
	if ip != "" {
		if addr, err := netip.ParseAddr(ip); err == nil {
			if off, ok := a.cfg.ServiceCIDR.Offset(addr); ok {
				if err := a.ips.Release(ctx, []int{off}); err != nil {
					a.log.Warn("releasing a cluster IP failed; repair will free it", "service", svc.Namespace+"/"+svc.Name, "ip", ip, "err", err)
				}
			}
		}
	}
	var offs []int
	for _, p := range ports {
		if off, ok := a.cfg.NodePorts.Offset(int(p)); ok {
			offs = append(offs, off)
		}
	}
	if err := a.ports.Release(ctx, offs); err != nil {
		a.log.Warn("releasing node ports failed; repair will free them", "service", svc.Namespace+"/"+svc.Name, "ports", ports, "err", err)
	}
}

// begin plans and reserves what svc needs beyond what old (nil on create) already holds.
func (a *Services) begin(ctx context.Context, svc, old *corev1.Service, dryRun bool) (func(bool), error) {
	noop := func(bool) {}
	p, errs := a.plan(svc, old)
	if len(errs) > 0 {
		return noop, apierrors.NewInvalid(serviceKind, svc.Name, errs)
	}
	var ipSpecific []int
	if p.ipAsk {
		ipSpecific = []int{p.ipWant}
	}
	ipN := 0
	if p.ipDraw {
		ipN = 1
	}
	ipRun, portRun := a.ips.Allocate, a.ports.Allocate
	if dryRun {
		ipRun, portRun = a.ips.Check, a.ports.Check
	}
	var ipDrawn, portDrawn []int
	var err error
	if p.ipAsk || p.ipDraw {
		if ipDrawn, err = ipRun(ctx, ipSpecific, ipN); err != nil {
			return noop, a.ipError(svc, p, err)
		}
	}
	// undoIP gives back what this write reserved in the IP range.
	undoIP := func() {}
	if !dryRun && (p.ipAsk || p.ipDraw) {
		offs := append(append([]int(nil), ipSpecific...), ipDrawn...)
		undoIP = func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := a.ips.Release(rctx, offs); err != nil {
				a.log.Warn("giving back a cluster IP failed; repair will free it", "service", svc.Namespace+"/"+svc.Name, "err", err)
			}
		}
	}
	if len(p.portWant) > 0 || len(p.portDraws) > 0 {
		if portDrawn, err = portRun(ctx, p.portWant, len(p.portDraws)); err != nil {
			undoIP()
			return noop, a.portError(svc, p, err)
		}
	}
	if p.ipDraw {
		ip := a.cfg.ServiceCIDR.Addr(ipDrawn[0]).String()
		svc.Spec.ClusterIP = ip
		svc.Spec.ClusterIPs = []string{ip}
	}
	if p.ipAsk || p.ipDraw {
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{a.family()}
		}
		if svc.Spec.IPFamilyPolicy == nil {
			single := corev1.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &single
		}
	}
	for i, off := range portDrawn {
		p.portDraws[i](int32(a.cfg.NodePorts.Base + off))
	}
	if dryRun {
		return noop, nil
	}
	portOffs := make([]int, 0, len(p.portWant)+len(portDrawn))
	for _, off := range p.portWant {
		portOffs = append(portOffs, off)
	}
	portOffs = append(portOffs, portDrawn...)
	return func(stored bool) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if stored {
			if p.releaseIP != "" || len(p.releasePorts) > 0 {
				a.release(rctx, svc, p.releaseIP, p.releasePorts)
			}
			return
		}
		undoIP()
		if len(portOffs) > 0 {
			if err := a.ports.Release(rctx, portOffs); err != nil {
				a.log.Warn("giving back node ports failed; repair will free them", "service", svc.Namespace+"/"+svc.Name, "err", err)
			}
		}
	}, nil
}

func (a *Services) family() corev1.IPFamily {
	if a.cfg.ServiceCIDR.Prefix.Addr().Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

func familyOf(a netip.Addr) corev1.IPFamily {
	if a.Unmap().Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// plan works out what to reserve and release. Values the new object carries that the old one
// already held are kept as they are; malformed values are left for validation to report.
func (a *Services) plan(svc, old *corev1.Service) (*plan, field.ErrorList) {
	p := &plan{}
	var errs field.ErrorList
	spec := &svc.Spec
	specPath := field.NewPath("spec")

	// Cluster IPs.
	oldIP := heldIP(old)
	// A cluster IP is immutable once set (None included): an update only allocates when the old
	// object had none (it was an ExternalName), and any other change is validation's to refuse.
	fixed := old != nil && old.Spec.Type != corev1.ServiceTypeExternalName && (oldIP != "" || isHeadless(old))
	if spec.Type != corev1.ServiceTypeExternalName && !isHeadless(svc) && !fixed {
		errs = append(errs, a.checkFamilies(svc)...)
		want := spec.ClusterIP
		if len(spec.ClusterIPs) > 0 {
			want = spec.ClusterIPs[0]
		}
		switch {
		case want == "":
			p.ipDraw = true
		case want == oldIP:
		default:
			if addr, err := netip.ParseAddr(want); err == nil && familyOf(addr) == a.family() {
				p.ipAsk, p.ipValue, p.ipPath = true, want, specPath.Child("clusterIPs").Index(0)
				p.ipWant = -1
				if off, ok := a.cfg.ServiceCIDR.Offset(addr); ok {
					p.ipWant = off
				}
			}
		}
	}
	if oldIP != "" && oldIP != heldIP(svc) {
		p.releaseIP = oldIP
	}

	// Node ports. Ports of one Service with the same port number (53/TCP and 53/UDP) share a
	// node port, as upstream does; any other reuse within the Service is refused like a clash.
	oldPorts := heldPorts(old)
	claimed := map[int32]string{} // node port -> who in this object holds it ("port:<n>" or "hc")
	wantIndex := map[int32]bool{}
	ask := func(np int32, path *field.Path) {
		if oldPorts[np] || wantIndex[np] {
			return
		}
		wantIndex[np] = true
		off, ok := a.cfg.NodePorts.Offset(int(np))
		if !ok {
			off = -1
		}
		p.portWant = append(p.portWant, off)
		p.portPaths = append(p.portPaths, path)
		p.portVals = append(p.portVals, np)
	}
	clash := func(path *field.Path, np int32) {
		errs = append(errs, field.Invalid(path, np, "provided port is already allocated"))
	}
	if needsNodePorts(svc) {
		allocate := !(spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts != nil && !*spec.AllocateLoadBalancerNodePorts)
		byPort := map[int32]int32{} // service port -> node port given to it in this object
		for i := range spec.Ports {
			sp := spec.Ports[i]
			if sp.NodePort != 0 && byPort[sp.Port] == 0 {
				byPort[sp.Port] = sp.NodePort
			}
		}
		drawn := map[int32]*[]int{} // service port -> indexes of ports waiting for a drawn node port
		for i := range spec.Ports {
			sp := &spec.Ports[i]
			path := specPath.Child("ports").Index(i).Child("nodePort")
			owner := fmt.Sprintf("port:%d", sp.Port)
			if sp.NodePort == 0 {
				if np := byPort[sp.Port]; np != 0 {
					sp.NodePort = np
					continue
				}
				if !allocate {
					continue
				}
				if w, ok := drawn[sp.Port]; ok {
					*w = append(*w, i)
					continue
				}
				w := &[]int{i}
				drawn[sp.Port] = w
				p.portDraws = append(p.portDraws, func(np int32) {
					for _, j := range *w {
						spec.Ports[j].NodePort = np
					}
				})
				continue
			}
			if by, ok := claimed[sp.NodePort]; ok && by != owner {
				clash(path, sp.NodePort)
				continue
			}
			claimed[sp.NodePort] = owner
			ask(sp.NodePort, path)
		}
	}
	if needsHealthCheck(svc) {
		path := specPath.Child("healthCheckNodePort")
		hc := spec.HealthCheckNodePort
		switch {
		case old != nil && needsHealthCheck(old) && old.Spec.HealthCheckNodePort != 0 && hc == 0:
			spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
			claimed[spec.HealthCheckNodePort] = "hc"
		case old != nil && needsHealthCheck(old) && old.Spec.HealthCheckNodePort != 0 && hc != old.Spec.HealthCheckNodePort:
			errs = append(errs, field.Invalid(path, hc,
				"cannot change healthCheckNodePort on loadBalancer service with externalTraffic=Local during update"))
		case hc == 0:
			p.portDraws = append(p.portDraws, func(np int32) { spec.HealthCheckNodePort = np })
		default:
			if _, ok := claimed[hc]; ok {
				clash(path, hc)
				break
			}
			claimed[hc] = "hc"
			ask(hc, path)
		}
	}
	for np := range oldPorts {
		if _, kept := claimed[np]; !kept {
			p.releasePorts = append(p.releasePorts, np)
		}
	}
	return p, errs
}

// checkFamilies refuses what a single-stack cluster cannot give.
func (a *Services) checkFamilies(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	specPath := field.NewPath("spec")
	if spec.IPFamilyPolicy != nil && *spec.IPFamilyPolicy == corev1.IPFamilyPolicyRequireDualStack {
		errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), *spec.IPFamilyPolicy,
			"this cluster is not configured for dual-stack services"))
	}
	for i, fam := range spec.IPFamilies {
		if (fam == corev1.IPv4Protocol || fam == corev1.IPv6Protocol) && fam != a.family() {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilies").Index(i), fam, "not configured on this cluster"))
		}
	}
	for i, ip := range spec.ClusterIPs {
		if addr, err := netip.ParseAddr(ip); err == nil && familyOf(addr) != a.family() {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(i), spec.ClusterIPs,
				fmt.Sprintf("%s is not configured on this cluster", familyOf(addr))))
		}
	}
	return errs
}

func (a *Services) ipError(svc *corev1.Service, p *plan, err error) error {
	switch {
	case errors.Is(err, ErrFull):
		return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %v", err))
	case errors.Is(err, ErrAllocated):
		return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(p.ipPath, p.ipValue,
			fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", p.ipValue))})
	case errors.Is(err, ErrNotInRange):
		return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(p.ipPath, p.ipValue,
			fmt.Sprintf("failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s", p.ipValue, a.cfg.ServiceCIDR))})
	}
	return storeError(err)
}

func (a *Services) portError(svc *corev1.Service, p *plan, err error) error {
	if i := failedIndex(err); i >= 0 {
		msg := "provided port is already allocated"
		if errors.Is(err, ErrNotInRange) {
			msg = "provided port is not in the valid range. The range of valid ports is " + a.cfg.NodePorts.String()
		}
		return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(p.portPaths[i], p.portVals[i], msg)})
	}
	if errors.Is(err, ErrFull) {
		return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %v", err))
	}
	return storeError(err)
}

// storeError reports an etcd failure: a deadline is a timeout the client may retry.
func storeError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return apierrors.NewTimeoutError("the allocation did not complete in time", 1)
	}
	return apierrors.NewInternalError(fmt.Errorf("allocation storage: %w", err))
}
