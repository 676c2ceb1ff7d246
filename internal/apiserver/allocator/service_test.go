package allocator

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newServices(t *testing.T, cidr, ports string) *Services {
	t.Helper()
	h := startEtcd(t)
	c, err := ParseServiceCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePortRange(ports)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Client: h.Client(), ServiceCIDR: c, NodePorts: p, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type svcOpt func(*corev1.Service)

func mkSvc(name string, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func typ(t corev1.ServiceType) svcOpt { return func(s *corev1.Service) { s.Spec.Type = t } }
func ip(v string) svcOpt {
	return func(s *corev1.Service) { s.Spec.ClusterIP = v; s.Spec.ClusterIPs = []string{v} }
}
func ports(p ...corev1.ServicePort) svcOpt { return func(s *corev1.Service) { s.Spec.Ports = p } }
func local() svcOpt {
	return func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }
}
func port(n, nodePort int32, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Port: n, NodePort: nodePort, Protocol: proto}
}

// create runs a create through the hooks and settles it as stored.
func create(t *testing.T, a *Services, s *corev1.Service) *corev1.Service {
	t.Helper()
	finish, err := a.BeginCreate(context.Background(), s, false)
	if err != nil {
		t.Fatalf("create %s: %v", s.Name, err)
	}
	finish(true)
	return s
}

func invalidAt(t *testing.T, err error, path, msg string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("err = %v, want Invalid", err)
	}
	for _, c := range err.(apierrors.APIStatus).Status().Details.Causes {
		if c.Field == path && strings.Contains(c.Message, msg) {
			return
		}
	}
	t.Fatalf("err = %v, want %s: %s", err, path, msg)
}

func allocated(t *testing.T, r *Range) int {
	t.Helper()
	b, err := r.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b.Count()
}

func TestCreateClusterIPs(t *testing.T) {
	a := newServices(t, "10.0.0.0/29", "30000-30009")
	ctx := context.Background()

	k := create(t, a, mkSvc("kubernetes", ip("10.0.0.1")))
	if k.Spec.ClusterIP != "10.0.0.1" {
		t.Fatalf("requested address not kept: %v", k.Spec.ClusterIP)
	}
	got := create(t, a, mkSvc("web"))
	addr := netip.MustParseAddr(got.Spec.ClusterIP)
	if off, ok := a.cfg.ServiceCIDR.Offset(addr); !ok || off == 0 {
		t.Fatalf("drew %s", addr)
	}
	if len(got.Spec.ClusterIPs) != 1 || got.Spec.ClusterIPs[0] != got.Spec.ClusterIP ||
		len(got.Spec.IPFamilies) != 1 || got.Spec.IPFamilies[0] != corev1.IPv4Protocol ||
		got.Spec.IPFamilyPolicy == nil || *got.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
		t.Fatalf("ip fields = %+v", got.Spec)
	}

	tests := []struct {
		name string
		svc  *corev1.Service
		path string
		msg  string
	}{
		{"taken", mkSvc("a", ip("10.0.0.1")), "spec.clusterIPs[0]", "failed to allocate IP 10.0.0.1: provided IP is already allocated"},
		{"outside", mkSvc("b", ip("10.0.1.1")), "spec.clusterIPs[0]",
			"provided IP is not in the valid range. The range of valid IPs is 10.0.0.0/29"},
		{"network address", mkSvc("c", ip("10.0.0.0")), "spec.clusterIPs[0]", "not in the valid range"},
		{"broadcast", mkSvc("d", ip("10.0.0.7")), "spec.clusterIPs[0]", "not in the valid range"},
		{"other family", mkSvc("e", ip("fd00::5")), "spec.clusterIPs[0]", "IPv6 is not configured on this cluster"},
		{"dual stack", mkSvc("f", func(s *corev1.Service) {
			p := corev1.IPFamilyPolicyRequireDualStack
			s.Spec.IPFamilyPolicy = &p
		}), "spec.ipFamilyPolicy", "not configured for dual-stack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := allocated(t, a.ips)
			_, err := a.BeginCreate(ctx, tt.svc, false)
			invalidAt(t, err, tt.path, tt.msg)
			if after := allocated(t, a.ips); after != before {
				t.Fatalf("a refused create left %d addresses allocated, had %d", after, before)
			}
		})
	}

	// None and ExternalName get nothing.
	headless := create(t, a, mkSvc("headless", ip("None")))
	ext := create(t, a, mkSvc("ext", typ(corev1.ServiceTypeExternalName)))
	if headless.Spec.ClusterIP != "None" || ext.Spec.ClusterIP != "" || allocated(t, a.ips) != 2 {
		t.Fatalf("headless %q, external %q, %d allocated", headless.Spec.ClusterIP, ext.Spec.ClusterIP, allocated(t, a.ips))
	}

	// Dry run fills the address in and keeps nothing.
	dry := mkSvc("dry")
	finish, err := a.BeginCreate(ctx, dry, true)
	if err != nil || dry.Spec.ClusterIP == "" {
		t.Fatalf("dry run: %v, ip %q", err, dry.Spec.ClusterIP)
	}
	finish(true)
	if n := allocated(t, a.ips); n != 2 {
		t.Fatalf("dry run left %d allocated", n)
	}

	// A write that is not stored gives its address back.
	snap, _ := a.ips.Snapshot(ctx)
	free, _ := snap.firstFree(1, snap.Size())
	freeIP := a.cfg.ServiceCIDR.Addr(free).String()
	lost := mkSvc("lost", ip(freeIP))
	finish, err = a.BeginCreate(ctx, lost, false)
	if err != nil {
		t.Fatal(err)
	}
	finish(false)
	create(t, a, mkSvc("again", ip(freeIP)))

	// Fill the /29 (6 usable: .1 to .6) and hit the end.
	for allocated(t, a.ips) < 6 {
		create(t, a, mkSvc("filler"))
	}
	_, err = a.BeginCreate(ctx, mkSvc("one-too-many"), false)
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to allocate a serviceIP: range is full") {
		t.Fatalf("full range: %v", err)
	}
	// Deleting frees the address for reuse.
	a.AfterDelete(ctx, got)
	again := create(t, a, mkSvc("reuse"))
	if again.Spec.ClusterIP != got.Spec.ClusterIP {
		t.Fatalf("reused %s, want the freed %s", again.Spec.ClusterIP, got.Spec.ClusterIP)
	}
}

func TestCreateNodePorts(t *testing.T) {
	// Requested node ports sit in the static band (30000-30015), which draws avoid, so that a
	// drawn port never collides with a later case's request.
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	f := false
	tests := []struct {
		name  string
		svc   *corev1.Service
		check func(t *testing.T, s *corev1.Service)
		path  string // expected error
		msg   string
	}{
		{name: "clusterIP gets none", svc: mkSvc("a"), check: func(t *testing.T, s *corev1.Service) {
			if s.Spec.Ports[0].NodePort != 0 {
				t.Fatal("nodePort for a ClusterIP service")
			}
		}},
		{name: "each port gets one", svc: mkSvc("b", typ(corev1.ServiceTypeNodePort), ports(port(80, 0, tcp), port(443, 0, tcp))),
			check: func(t *testing.T, s *corev1.Service) {
				a, b := s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort
				if a < 30000 || a > 30099 || b < 30000 || b > 30099 || a == b {
					t.Fatalf("nodePorts %d, %d", a, b)
				}
			}},
		{name: "requested kept", svc: mkSvc("c", typ(corev1.ServiceTypeNodePort), ports(port(80, 30005, tcp))),
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].NodePort != 30005 {
					t.Fatal(s.Spec.Ports[0].NodePort)
				}
			}},
		{name: "same port number shares across protocols", svc: mkSvc("dns", typ(corev1.ServiceTypeNodePort),
			ports(port(53, 0, tcp), port(53, 30003, udp))),
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].NodePort != 30003 || s.Spec.Ports[1].NodePort != 30003 {
					t.Fatalf("nodePorts %d, %d", s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort)
				}
			}},
		{name: "drawn port shared across protocols", svc: mkSvc("dns2", typ(corev1.ServiceTypeNodePort),
			ports(port(54, 0, tcp), port(54, 0, udp))),
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].NodePort == 0 || s.Spec.Ports[0].NodePort != s.Spec.Ports[1].NodePort {
					t.Fatalf("nodePorts %d, %d", s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort)
				}
			}},
		{name: "different port numbers may not share", svc: mkSvc("d", typ(corev1.ServiceTypeNodePort),
			ports(port(80, 30006, tcp), port(81, 30006, udp))),
			path: "spec.ports[1].nodePort", msg: "provided port is already allocated"},
		{name: "taken", svc: mkSvc("e", typ(corev1.ServiceTypeNodePort), ports(port(80, 30005, tcp))),
			path: "spec.ports[0].nodePort", msg: "provided port is already allocated"},
		{name: "outside", svc: mkSvc("f", typ(corev1.ServiceTypeNodePort), ports(port(80, 0, tcp), port(81, 8080, tcp))),
			path: "spec.ports[1].nodePort", msg: "provided port is not in the valid range. The range of valid ports is 30000-30099"},
		{name: "load balancer without node ports", svc: mkSvc("g", typ(corev1.ServiceTypeLoadBalancer), func(s *corev1.Service) {
			s.Spec.AllocateLoadBalancerNodePorts = &f
		}, ports(port(80, 0, tcp), port(81, 30007, tcp))),
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].NodePort != 0 || s.Spec.Ports[1].NodePort != 30007 {
					t.Fatalf("nodePorts %d, %d", s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort)
				}
			}},
		{name: "health check port for Local", svc: mkSvc("h", typ(corev1.ServiceTypeLoadBalancer), local()),
			check: func(t *testing.T, s *corev1.Service) {
				hc := s.Spec.HealthCheckNodePort
				if hc < 30000 || hc == s.Spec.Ports[0].NodePort {
					t.Fatalf("healthCheckNodePort %d, nodePort %d", hc, s.Spec.Ports[0].NodePort)
				}
			}},
		{name: "no health check port for Cluster", svc: mkSvc("i", typ(corev1.ServiceTypeLoadBalancer)),
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.HealthCheckNodePort != 0 {
					t.Fatal(s.Spec.HealthCheckNodePort)
				}
			}},
		{name: "requested health check port taken", svc: mkSvc("j", typ(corev1.ServiceTypeLoadBalancer), local(), func(s *corev1.Service) {
			s.Spec.HealthCheckNodePort = 30005
		}), path: "spec.healthCheckNodePort", msg: "provided port is already allocated"},
		{name: "health check port equal to a node port", svc: mkSvc("k", typ(corev1.ServiceTypeLoadBalancer), local(),
			ports(port(80, 30008, tcp)), func(s *corev1.Service) { s.Spec.HealthCheckNodePort = 30008 }),
			path: "spec.healthCheckNodePort", msg: "provided port is already allocated"},
	}
	a := newServices(t, "10.0.0.0/24", "30000-30099")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := allocated(t, a.ports)
			finish, err := a.BeginCreate(context.Background(), tt.svc, false)
			if tt.path != "" {
				invalidAt(t, err, tt.path, tt.msg)
				if after := allocated(t, a.ports); after != before {
					t.Fatalf("refused create changed the node ports allocated from %d to %d", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			finish(true)
			tt.check(t, tt.svc)
			if want := len(heldPorts(tt.svc)); allocated(t, a.ports) != before+want {
				t.Fatalf("%d node ports allocated, want %d", allocated(t, a.ports), before+want)
			}
		})
	}
}

func TestNodePortRangeFull(t *testing.T) {
	a := newServices(t, "10.0.0.0/24", "30000-30001")
	create(t, a, mkSvc("a", typ(corev1.ServiceTypeNodePort), ports(port(1, 0, "TCP"), port(2, 0, "TCP"))))
	_, err := a.BeginCreate(context.Background(), mkSvc("b", typ(corev1.ServiceTypeNodePort)), false)
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to allocate a nodePort: range is full") {
		t.Fatalf("err = %v", err)
	}
	// The address drawn for the refused Service went back.
	if n := allocated(t, a.ips); n != 1 {
		t.Fatalf("%d addresses allocated after a refused create, want 1", n)
	}
}

func TestUpdates(t *testing.T) {
	a := newServices(t, "10.0.0.0/24", "30000-30099")
	ctx := context.Background()
	update := func(t *testing.T, old *corev1.Service, mut func(*corev1.Service), stored bool) (*corev1.Service, error) {
		t.Helper()
		next := old.DeepCopy()
		mut(next)
		finish, err := a.BeginUpdate(ctx, next, old, false)
		if err != nil {
			return nil, err
		}
		finish(stored)
		return next, nil
	}
	must := func(s *corev1.Service, err error) *corev1.Service {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("ClusterIP to NodePort and back", func(t *testing.T) {
		s := create(t, a, mkSvc("np"))
		s = must(update(t, s, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }, true))
		np := s.Spec.Ports[0].NodePort
		if np == 0 || allocated(t, a.ports) != 1 {
			t.Fatalf("nodePort %d, %d allocated", np, allocated(t, a.ports))
		}
		// Not stored: the reservation is undone, the old ports stay.
		must(update(t, s, func(s *corev1.Service) { s.Spec.Ports = append(s.Spec.Ports, port(81, 0, "TCP")) }, false))
		if allocated(t, a.ports) != 1 {
			t.Fatalf("%d allocated after an unstored update, want 1", allocated(t, a.ports))
		}
		s = must(update(t, s, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
			s.Spec.Ports[0].NodePort = 0
		}, true))
		if allocated(t, a.ports) != 0 {
			t.Fatalf("%d node ports still allocated after leaving NodePort", allocated(t, a.ports))
		}
		a.AfterDelete(ctx, s)
	})

	t.Run("ports added and removed", func(t *testing.T) {
		s := create(t, a, mkSvc("multi", typ(corev1.ServiceTypeNodePort), ports(port(80, 30010, "TCP"), port(81, 0, "TCP"))))
		s = must(update(t, s, func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{port(81, s.Spec.Ports[1].NodePort, "TCP"), port(82, 0, "TCP")}
		}, true))
		if allocated(t, a.ports) != 2 || heldPorts(s)[30010] {
			t.Fatalf("%d allocated, ports %+v", allocated(t, a.ports), s.Spec.Ports)
		}
		// 30010 is free again.
		s = must(update(t, s, func(s *corev1.Service) { s.Spec.Ports[1].NodePort = 30010 }, true))
		if allocated(t, a.ports) != 2 {
			t.Fatalf("%d allocated after moving a port to 30010, want 2", allocated(t, a.ports))
		}
		a.AfterDelete(ctx, s)
		if allocated(t, a.ports) != 0 {
			t.Fatalf("%d allocated after delete", allocated(t, a.ports))
		}
	})

	t.Run("to ExternalName releases the address, back allocates one", func(t *testing.T) {
		before := allocated(t, a.ips)
		s := create(t, a, mkSvc("ext"))
		s = must(update(t, s, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = "", nil, nil, nil
		}, true))
		if allocated(t, a.ips) != before {
			t.Fatalf("%d allocated, want %d", allocated(t, a.ips), before)
		}
		s = must(update(t, s, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }, true))
		if s.Spec.ClusterIP == "" || allocated(t, a.ips) != before+1 {
			t.Fatalf("clusterIP %q, %d allocated", s.Spec.ClusterIP, allocated(t, a.ips))
		}
	})

	t.Run("a changed cluster IP is left for validation", func(t *testing.T) {
		taken := create(t, a, mkSvc("taken"))
		s := create(t, a, mkSvc("fixed"))
		before := allocated(t, a.ips)
		for _, want := range []string{taken.Spec.ClusterIP, "10.0.0.200", "None"} {
			next, err := update(t, s, func(s *corev1.Service) { ip(want)(s) }, false)
			if err != nil || next.Spec.ClusterIP != want || allocated(t, a.ips) != before {
				t.Fatalf("changing to %s: %v, %d allocated (had %d)", want, err, allocated(t, a.ips), before)
			}
		}
	})

	t.Run("health check port follows the traffic policy", func(t *testing.T) {
		s := create(t, a, mkSvc("lb", typ(corev1.ServiceTypeLoadBalancer)))
		s = must(update(t, s, func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, true))
		hc := s.Spec.HealthCheckNodePort
		if hc == 0 || allocated(t, a.ports) != 2 {
			t.Fatalf("healthCheckNodePort %d, %d allocated", hc, allocated(t, a.ports))
		}
		_, err := update(t, s, func(s *corev1.Service) { s.Spec.HealthCheckNodePort = hc + 1 }, true)
		invalidAt(t, err, "spec.healthCheckNodePort", "cannot change healthCheckNodePort")
		s = must(update(t, s, func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.HealthCheckNodePort = 0
		}, true))
		if allocated(t, a.ports) != 1 {
			t.Fatalf("%d allocated after dropping Local, want 1", allocated(t, a.ports))
		}
		a.AfterDelete(ctx, s)
	})

	t.Run("dry run update reserves nothing", func(t *testing.T) {
		s := create(t, a, mkSvc("dry"))
		next := s.DeepCopy()
		next.Spec.Type = corev1.ServiceTypeNodePort
		finish, err := a.BeginUpdate(ctx, next, s, true)
		if err != nil {
			t.Fatal(err)
		}
		finish(true)
		if next.Spec.Ports[0].NodePort == 0 || allocated(t, a.ports) != 0 {
			t.Fatalf("dry run: nodePort %d, %d allocated", next.Spec.Ports[0].NodePort, allocated(t, a.ports))
		}
	})
}

func TestRepair(t *testing.T) {
	a := newServices(t, "10.0.0.0/24", "30000-30099")
	ctx := context.Background()
	var stored []*corev1.Service
	a.cfg.ListServices = func(context.Context) ([]*corev1.Service, error) { return stored, nil }

	// Held by a Service but missing from the bitmap (lost bitmap): marked at once.
	stored = []*corev1.Service{
		mkSvc("a", ip("10.0.0.5")),
		mkSvc("b", ip("10.0.0.6"), typ(corev1.ServiceTypeNodePort), ports(port(80, 30007, "TCP"))),
		mkSvc("out", ip("10.9.9.9")), // outside the range: reported, not marked
	}
	// In the bitmap but held by nobody: an in-flight create, or a leak.
	if _, err := a.ips.Allocate(ctx, []int{19}, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10.0.0.5", "10.0.0.6", "10.0.0.20"} {
		off, _ := a.cfg.ServiceCIDR.Offset(netip.MustParseAddr(want))
		if _, err := a.ips.Allocate(ctx, []int{off}, 0); err == nil {
			t.Fatalf("%s is free after repair", want)
		}
	}
	if _, err := a.ports.Allocate(ctx, []int{7}, 0); err == nil {
		t.Fatal("node port 30007 is free after repair")
	}
	// The unowned address survives until LeakPasses passes have seen it.
	for pass := 2; pass <= a.cfg.LeakPasses; pass++ {
		if allocated(t, a.ips) != 3 {
			t.Fatalf("before pass %d: %d allocated, want 3", pass, allocated(t, a.ips))
		}
		if err := a.Repair(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := allocated(t, a.ips); n != 2 {
		t.Fatalf("after %d passes %d allocated, want the leak freed (2)", a.cfg.LeakPasses, n)
	}
	// A leak that gets an owner before the threshold is not freed later.
	if _, err := a.ips.Allocate(ctx, []int{29}, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	stored = append(stored, mkSvc("late", ip("10.0.0.30")))
	for range a.cfg.LeakPasses + 1 {
		if err := a.Repair(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := allocated(t, a.ips); n != 3 {
		t.Fatalf("%d allocated, want 3 (the late Service's address kept)", n)
	}
}
