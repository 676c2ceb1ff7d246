package dns

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func slice(svc string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: svc + "-x", Namespace: "default",
		Labels: map[string]string{discoveryv1.LabelServiceName: svc}}, AddressType: discoveryv1.AddressTypeIPv4, Ports: ports, Endpoints: eps}
}

func ep(ip string, ready bool, host string) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	if host != "" {
		e.Hostname = &host
	}
	return e
}

func svc(name string, mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	mut(s)
	return s
}

func testZone(t *testing.T) *Zone {
	t.Helper()
	z := NewZone("cluster.local", 0)
	z.SetNamespace("default", true)
	z.SetNamespace("apps", true)
	z.SetService("default/web", svc("web", func(s *corev1.Service) {
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.20", []string{"10.96.0.20"}
		s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}
	}), []*discoveryv1.EndpointSlice{slice("web", []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
		ep("10.244.0.9", true, ""))})
	z.SetService("default/nginx", svc("nginx", func(s *corev1.Service) {
		s.Spec.ClusterIP = corev1.ClusterIPNone
		s.Spec.Ports = []corev1.ServicePort{{Name: "web", Port: 80}}
	}), []*discoveryv1.EndpointSlice{
		slice("nginx", []discoveryv1.EndpointPort{{Name: ptr("web"), Port: ptr(int32(80)), Protocol: ptr(corev1.ProtocolTCP)}},
			ep("10.244.0.5", true, "web-0"), ep("10.244.0.6", false, "web-1"), ep("10.244.0.7", true, "")),
		// The same endpoint in two slices (mid-move) answers once.
		slice("nginx", []discoveryv1.EndpointPort{{Name: ptr("web"), Port: ptr(int32(80)), Protocol: ptr(corev1.ProtocolTCP)}},
			ep("10.244.0.5", true, "web-0")),
	})
	z.SetService("default/lonely", svc("lonely", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }), nil)
	z.SetService("default/ext", svc("ext", func(s *corev1.Service) {
		s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "Example.COM"
	}), nil)
	z.SetService("default/inzone", svc("inzone", func(s *corev1.Service) {
		s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "web.default.svc.cluster.local"
	}), nil)
	return z
}

// short renders answers compactly: "A 10.0.0.1", "SRV 80 target", ...
func short(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *mdns.A:
			out = append(out, r.Hdr.Name+" A "+r.A.String())
		case *mdns.AAAA:
			out = append(out, r.Hdr.Name+" AAAA "+r.AAAA.String())
		case *mdns.SRV:
			out = append(out, fmt.Sprintf("%s SRV %d %s", r.Hdr.Name, r.Port, r.Target))
		case *mdns.CNAME:
			out = append(out, r.Hdr.Name+" CNAME "+r.Target)
		case *mdns.PTR:
			out = append(out, r.Hdr.Name+" PTR "+r.Ptr)
		case *mdns.SOA:
			out = append(out, r.Hdr.Name+" SOA")
		}
	}
	sort.Strings(out)
	return out
}

func TestLookup(t *testing.T) {
	z := testZone(t)
	const (
		nx      = "NXDOMAIN"
		nodata  = "NODATA"
		forward = "FORWARD"
	)
	A, AAAA, SRV, PTR, CNAME, SOA, TXT := mdns.TypeA, mdns.TypeAAAA, mdns.TypeSRV, mdns.TypePTR, mdns.TypeCNAME, mdns.TypeSOA, mdns.TypeTXT
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  string // an outcome, or the answers joined by "|"
		extra string
	}{
		{"web.default.svc.cluster.local.", A, "web.default.svc.cluster.local. A 10.96.0.20", ""},
		{"WEB.Default.svc.cluster.local.", A, "WEB.Default.svc.cluster.local. A 10.96.0.20", ""},
		{"web.default.svc.cluster.local.", AAAA, nodata, ""},
		{"web.default.svc.cluster.local.", TXT, nodata, ""},
		{"missing.default.svc.cluster.local.", A, nx, ""},
		{"web.nope.svc.cluster.local.", A, nx, ""},
		{"default.svc.cluster.local.", A, nodata, ""},
		{"nope.svc.cluster.local.", A, nx, ""},
		{"svc.cluster.local.", A, nodata, ""},
		{"cluster.local.", A, nodata, ""},
		{"cluster.local.", SOA, "cluster.local. SOA", ""},
		{"foo.cluster.local.", A, nx, ""},
		{"a.b.web.default.svc.cluster.local.", A, nx, ""},
		{"nginx.default.svc.cluster.local.", A, "nginx.default.svc.cluster.local. A 10.244.0.5|nginx.default.svc.cluster.local. A 10.244.0.7", ""},
		{"web-0.nginx.default.svc.cluster.local.", A, "web-0.nginx.default.svc.cluster.local. A 10.244.0.5", ""},
		{"10-244-0-7.nginx.default.svc.cluster.local.", A, "10-244-0-7.nginx.default.svc.cluster.local. A 10.244.0.7", ""},
		{"web-1.nginx.default.svc.cluster.local.", A, nx, ""},
		{"10-244-0-9.web.default.svc.cluster.local.", A, "10-244-0-9.web.default.svc.cluster.local. A 10.244.0.9", ""},
		{"lonely.default.svc.cluster.local.", A, nx, ""},
		{"_http._tcp.web.default.svc.cluster.local.", SRV, "_http._tcp.web.default.svc.cluster.local. SRV 80 web.default.svc.cluster.local.",
			"web.default.svc.cluster.local. A 10.96.0.20"},
		{"_dns._udp.web.default.svc.cluster.local.", SRV, "_dns._udp.web.default.svc.cluster.local. SRV 53 web.default.svc.cluster.local.", "web.default.svc.cluster.local. A 10.96.0.20"},
		{"_dns._tcp.web.default.svc.cluster.local.", SRV, nx, ""},
		{"_nope._tcp.web.default.svc.cluster.local.", SRV, nx, ""},
		{"_web._tcp.nginx.default.svc.cluster.local.", SRV,
			"_web._tcp.nginx.default.svc.cluster.local. SRV 80 10-244-0-7.nginx.default.svc.cluster.local.|_web._tcp.nginx.default.svc.cluster.local. SRV 80 web-0.nginx.default.svc.cluster.local.",
			"10-244-0-7.nginx.default.svc.cluster.local. A 10.244.0.7|web-0.nginx.default.svc.cluster.local. A 10.244.0.5"},
		{"web.default.svc.cluster.local.", SRV,
			"web.default.svc.cluster.local. SRV 53 web.default.svc.cluster.local.|web.default.svc.cluster.local. SRV 80 web.default.svc.cluster.local.",
			"web.default.svc.cluster.local. A 10.96.0.20"},
		{"ext.default.svc.cluster.local.", CNAME, "ext.default.svc.cluster.local. CNAME example.com.", ""},
		{"ext.default.svc.cluster.local.", A, "ext.default.svc.cluster.local. CNAME example.com.", ""},
		{"inzone.default.svc.cluster.local.", A, "inzone.default.svc.cluster.local. CNAME web.default.svc.cluster.local.|web.default.svc.cluster.local. A 10.96.0.20", ""},
		{"20.0.96.10.in-addr.arpa.", PTR, "20.0.96.10.in-addr.arpa. PTR web.default.svc.cluster.local.", ""},
		{"5.0.244.10.in-addr.arpa.", PTR, "5.0.244.10.in-addr.arpa. PTR web-0.nginx.default.svc.cluster.local.", ""},
		{"6.0.244.10.in-addr.arpa.", PTR, forward, ""},
		{"20.0.96.10.in-addr.arpa.", A, nodata, ""},
		{"1.1.168.192.in-addr.arpa.", PTR, forward, ""},
		{"example.com.", A, forward, ""},
		// Search domains are the client's: a partial name is not completed here.
		{"web.default.", A, forward, ""},
		{"web.", A, forward, ""},
		{"10-244-1-2.default.pod.cluster.local.", A, "10-244-1-2.default.pod.cluster.local. A 10.244.1.2", ""},
		{"fd00--1.default.pod.cluster.local.", AAAA, "fd00--1.default.pod.cluster.local. AAAA fd00::1", ""},
		{"10-244-1-2.default.pod.cluster.local.", AAAA, nodata, ""},
		{"10-244-1-2.nope.pod.cluster.local.", A, nx, ""},
		{"junk.default.pod.cluster.local.", A, nx, ""},
		{"default.pod.cluster.local.", A, nodata, ""},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.name, mdns.TypeToString[tc.qtype]), func(t *testing.T) {
			r := z.Lookup(tc.name, tc.qtype)
			var got string
			switch {
			case r.Forward:
				got = forward
			case r.Rcode == mdns.RcodeNameError:
				got = nx
			case r.Negative && len(r.Answer) == 0:
				got = nodata
			default:
				got = strings.Join(short(r.Answer), "|")
			}
			if got != tc.want {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
			if extra := strings.Join(short(r.Extra), "|"); extra != tc.extra {
				t.Errorf("extra %q, want %q", extra, tc.extra)
			}
			if tc.name == "ext.default.svc.cluster.local." && tc.qtype == A && r.External != "example.com." {
				t.Errorf("External = %q", r.External)
			}
		})
	}
}

func TestSetServiceReplacesAndRemoves(t *testing.T) {
	z := testZone(t)
	// web-0 moves: the old address goes from names and PTRs.
	z.SetService("default/nginx", svc("nginx", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }),
		[]*discoveryv1.EndpointSlice{slice("nginx", nil, ep("10.244.3.3", true, "web-0"))})
	if got := short(z.Lookup("web-0.nginx.default.svc.cluster.local.", mdns.TypeA).Answer); len(got) != 1 || !strings.HasSuffix(got[0], "A 10.244.3.3") {
		t.Errorf("after move: %v", got)
	}
	if r := z.Lookup("5.0.244.10.in-addr.arpa.", mdns.TypePTR); !r.Forward {
		t.Errorf("old PTR still answered: %v", short(r.Answer))
	}
	if r := z.Lookup("10-244-0-7.nginx.default.svc.cluster.local.", mdns.TypeA); r.Rcode != mdns.RcodeNameError {
		t.Errorf("old endpoint name still answered: %v", short(r.Answer))
	}
	z.SetService("default/web", nil, nil)
	for _, n := range []string{"web.default.svc.cluster.local.", "_http._tcp.web.default.svc.cluster.local."} {
		if r := z.Lookup(n, mdns.TypeA); r.Rcode != mdns.RcodeNameError {
			t.Errorf("%s after delete: rcode %d answers %v", n, r.Rcode, short(r.Answer))
		}
	}
	z.SetNamespace("apps", false)
	if r := z.Lookup("apps.svc.cluster.local.", mdns.TypeA); r.Rcode != mdns.RcodeNameError {
		t.Errorf("deleted namespace: rcode %d", r.Rcode)
	}
}

// BenchmarkLookup is the cache's share of an answer: one A lookup among 1,000 Services.
func BenchmarkLookup(b *testing.B) {
	z := NewZone("cluster.local", 0)
	z.SetNamespace("default", true)
	names := make([]string, 1000)
	for i := range names {
		name := fmt.Sprintf("svc-%04d", i)
		ip := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
		z.SetService("default/"+name, svc(name, func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.Ports = ip, []corev1.ServicePort{{Name: "http", Port: 80}}
		}), nil)
		names[i] = name + ".default.svc.cluster.local."
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if r := z.Lookup(names[i%len(names)], mdns.TypeA); len(r.Answer) != 1 {
				b.Fatal("no answer")
			}
			i++
		}
	})
}
