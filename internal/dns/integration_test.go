package dns_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/controller/serviceendpoints"
	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/fakenodes"
)

// stubUpstream serves a few fixed names on loopback: the only resolver tests forward to.
func stubUpstream(t *testing.T) string {
	t.Helper()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch strings.ToLower(q.Name) {
		case "example.test.":
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.1")})
		case "big.test.":
			for i := 0; i < 40; i++ {
				m.Answer = append(m.Answer, &mdns.TXT{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 60},
					Txt: []string{fmt.Sprintf("record %02d %s", i, strings.Repeat("x", 40))}})
			}
		default:
			m.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	udp, tcp := &mdns.Server{PacketConn: pc, Handler: h}, &mdns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return pc.LocalAddr().String()
}

func query(t *testing.T, addr, netw, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	c := &mdns.Client{Net: netw, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, mdns.TypeToString[qtype], netw, err)
	}
	return r
}

func addrs(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	sort.Strings(out)
	return out
}

// eventually polls f until it returns "" or the deadline passes, and reports how long it took.
func eventually(t *testing.T, within time.Duration, f func() string) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < within {
		if last = f(); last == "" {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("not within %v: %s", within, last)
	return 0
}

func TestClusterDNS(t *testing.T) {
	upstream := stubUpstream(t)
	s := testserver.Start(t, testserver.Options{Mutate: func(c *server.Config) {
		c.DisableControllerManager = false
		c.Controllers = []string{"endpoints", "endpointslice"}
		c.DisableClusterDNS = false
		c.ClusterDNSListen = "127.0.0.1:0"
		c.DNSUpstreams = []string{upstream}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cs := s.Client
	if _, err := fakenodes.Start(ctx, cs, fakenodes.Options{Namespaces: []string{"default"}}); err != nil {
		t.Fatal(err)
	}
	var dnsAddr string
	eventually(t, 30*time.Second, func() string {
		if dnsAddr = s.ClusterDNS.Addr(); dnsAddr == "" {
			return "DNS not listening"
		}
		return ""
	})

	// The kube-dns Service sits at the tenth address; selector-less, the controllers leave it be.
	kd, err := cs.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		eventually(t, 10*time.Second, func() string {
			kd, err = cs.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			return ""
		})
	}
	if kd.Spec.ClusterIP != "10.96.0.10" || len(kd.Spec.Ports) != 2 || kd.Spec.Ports[0].Name != "dns" || kd.Spec.Ports[1].Protocol != corev1.ProtocolTCP {
		t.Errorf("kube-dns Service: %s %+v", kd.Spec.ClusterIP, kd.Spec.Ports)
	}

	mkPod := func(name, hostname string, port int32) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Hostname: hostname, Containers: []corev1.Container{{Name: "c", Image: "nginx",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}}}
		if hostname != "" {
			p.Spec.Subdomain = "nginx"
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svcs := []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.test"}},
	}
	for _, svc := range svcs {
		if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mkPod("web-0", "web-0", 8080)
	mkPod("web-1", "web-1", 9090)
	web, err := cs.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	podIP := func(name string) string {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return p.Status.PodIP
	}
	// Endpoints: both pods ready, each named port resolved on its own pod.
	eventually(t, 10*time.Second, func() string {
		ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		var got []string
		for _, ss := range ep.Subsets {
			for _, a := range ss.Addresses {
				got = append(got, fmt.Sprintf("%s:%d", a.IP, ss.Ports[0].Port))
			}
		}
		sort.Strings(got)
		want := []string{podIP("web-0") + ":8080", podIP("web-1") + ":9090"}
		sort.Strings(want)
		if !slices.Equal(got, want) || ep.Annotations[serviceendpoints.TriggerTimeAnnotation] == "" {
			return fmt.Sprintf("endpoints %v (annotations %v), want %v", got, ep.Annotations, want)
		}
		return ""
	})
	eventually(t, 10*time.Second, func() string {
		sl, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=nginx"})
		if err != nil {
			return err.Error()
		}
		n := 0
		for _, s := range sl.Items {
			if s.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" {
				return fmt.Sprintf("slice %s labels %v", s.Name, s.Labels)
			}
			for _, e := range s.Endpoints {
				if e.Hostname != nil && e.Conditions.Ready != nil && *e.Conditions.Ready {
					n++
				}
			}
		}
		if n != 2 {
			return fmt.Sprintf("%d ready endpoints with hostnames in %d slices", n, len(sl.Items))
		}
		return ""
	})
	// The kubernetes Service's endpoints stay the API server's.
	if sl, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"}); err != nil {
		t.Fatal(err)
	} else {
		for _, s := range sl.Items {
			if s.Labels[discoveryv1.LabelManagedBy] != "kube-apiserver" {
				t.Errorf("kubernetes slice %s managed by %q", s.Name, s.Labels[discoveryv1.LabelManagedBy])
			}
		}
	}

	const d = ".default.svc.cluster.local."
	for _, netw := range []string{"udp", "tcp"} {
		if got := addrs(query(t, dnsAddr, netw, "web"+d, mdns.TypeA)); !slices.Equal(got, []string{web.Spec.ClusterIP}) {
			t.Errorf("%s: web = %v, want %s", netw, got, web.Spec.ClusterIP)
		}
	}
	if got := addrs(query(t, dnsAddr, "udp", "kubernetes"+d, mdns.TypeA)); !slices.Equal(got, []string{"10.96.0.1"}) {
		t.Errorf("kubernetes = %v", got)
	}
	eventually(t, 5*time.Second, func() string {
		if got := addrs(query(t, dnsAddr, "udp", "web-0.nginx"+d, mdns.TypeA)); !slices.Equal(got, []string{podIP("web-0")}) {
			return fmt.Sprintf("web-0.nginx = %v, want %s", got, podIP("web-0"))
		}
		return ""
	})
	r := query(t, dnsAddr, "udp", "_web._tcp.nginx"+d, mdns.TypeSRV)
	if len(r.Answer) != 2 || len(r.Extra) < 2 {
		t.Errorf("SRV _web._tcp.nginx: %v extra %v", r.Answer, r.Extra)
	}
	if r := query(t, dnsAddr, "udp", "missing"+d, mdns.TypeA); r.Rcode != mdns.RcodeNameError || !r.Authoritative || len(r.Ns) != 1 {
		t.Errorf("missing: rcode %d aa %v ns %v", r.Rcode, r.Authoritative, r.Ns)
	}
	if r := query(t, dnsAddr, "udp", "web"+d, mdns.TypeAAAA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Errorf("web AAAA (NODATA): rcode %d answer %v ns %v", r.Rcode, r.Answer, r.Ns)
	}
	// ExternalName: the CNAME, then the target's address from upstream.
	if r := query(t, dnsAddr, "udp", "ext"+d, mdns.TypeA); len(r.Answer) != 2 || r.Answer[0].Header().Rrtype != mdns.TypeCNAME ||
		!slices.Equal(addrs(r), []string{"192.0.2.1"}) {
		t.Errorf("ext: %v", r.Answer)
	}
	// Reverse of the ClusterIP.
	rev, _ := mdns.ReverseAddr(web.Spec.ClusterIP)
	if r := query(t, dnsAddr, "udp", rev, mdns.TypePTR); len(r.Answer) != 1 || r.Answer[0].(*mdns.PTR).Ptr != "web"+d {
		t.Errorf("PTR %s: %v", rev, r.Answer)
	}
	// Forwarded, over both transports; truncated over UDP, whole over TCP.
	if got := addrs(query(t, dnsAddr, "udp", "example.test.", mdns.TypeA)); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("forwarded example.test = %v", got)
	}
	if r := query(t, dnsAddr, "udp", "nothing.test.", mdns.TypeA); r.Rcode != mdns.RcodeNameError {
		t.Errorf("forwarded NXDOMAIN: rcode %d", r.Rcode)
	}
	if r := query(t, dnsAddr, "udp", "big.test.", mdns.TypeTXT); !r.Truncated || len(r.Answer) >= 40 {
		t.Errorf("big answer over UDP: truncated %v, %d records", r.Truncated, len(r.Answer))
	}
	if r := query(t, dnsAddr, "tcp", "big.test.", mdns.TypeTXT); r.Truncated || len(r.Answer) != 40 {
		t.Errorf("big answer over TCP: truncated %v, %d records", r.Truncated, len(r.Answer))
	}

	// Answers follow changes within a second: a new Service...
	late := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "late"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "late"},
		Ports: []corev1.ServicePort{{Port: 80}}}}
	late, err = cs.CoreV1().Services("default").Create(ctx, late, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	took := eventually(t, time.Second, func() string {
		if got := addrs(query(t, dnsAddr, "udp", "late"+d, mdns.TypeA)); !slices.Equal(got, []string{late.Spec.ClusterIP}) {
			return fmt.Sprintf("late = %v", got)
		}
		return ""
	})
	t.Logf("a new Service answered %v after its create returned", took)
	// ...its deletion...
	if err := cs.CoreV1().Services("default").Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, func() string {
		if r := query(t, dnsAddr, "udp", "late"+d, mdns.TypeA); r.Rcode != mdns.RcodeNameError {
			return fmt.Sprintf("late after delete: rcode %d", r.Rcode)
		}
		return ""
	})
	// ...and a StatefulSet-style pod coming back with a new address.
	old := podIP("web-0")
	if err := cs.CoreV1().Pods("default").Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() string {
		if _, err := cs.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return "web-0 still there"
		}
		return ""
	})
	mkPod("web-0", "web-0", 8080)
	var newIP string
	eventually(t, 10*time.Second, func() string {
		if newIP = podIP("web-0"); newIP == "" || newIP == old {
			return "web-0 has no new address yet"
		}
		return ""
	})
	took = eventually(t, time.Second, func() string {
		if got := addrs(query(t, dnsAddr, "udp", "web-0.nginx"+d, mdns.TypeA)); !slices.Equal(got, []string{newIP}) {
			return fmt.Sprintf("web-0.nginx = %v, want %s", got, newIP)
		}
		return ""
	})
	t.Logf("web-0's new address %s answered %v after the pod got it", newIP, took)
}
