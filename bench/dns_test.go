package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DNS load: the figure is a Service name answered from the cache in at most 1 ms p99
// at 10,000 queries/s.
const (
	dnsRate     = 10000
	dnsClients  = 50
	dnsDuration = 5 * time.Second
	dnsServices = 1000
)

// BenchmarkDNSServiceLookup drives 10,000 queries/s of A questions for Service names at the
// cluster DNS of a `skiff server` process (1,000 Services cached), from 50 UDP clients on
// loopback, and the same load at a bare miekg/dns server answering one fixed record (the
// floor). Latency counts from each query's scheduled send time, so a stalled client does not
// hide its backlog.
func BenchmarkDNSServiceLookup(b *testing.B) {
	port := freeUDPPort(b)
	s := startServer(b, "--cluster-dns-listen", fmt.Sprintf("127.0.0.1:%d", port))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cs := s.client(b)
	ctx := context.Background()
	names := make([]string, 0, dnsServices)
	for i := 0; i < dnsServices; i++ {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%04d", i)},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		names = append(names, svc.Name+".default.svc.cluster.local.")
	}
	// Every name answers before the clock starts.
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range []string{names[0], names[len(names)-1]} {
		for {
			m := new(mdns.Msg)
			m.SetQuestion(n, mdns.TypeA)
			if r, _, err := (&mdns.Client{Timeout: time.Second}).Exchange(m, addr); err == nil && len(r.Answer) == 1 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s never answered", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	floorAddr, stop := fixedServer(b)
	defer stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		floor := driveDNS(b, floorAddr, []string{"fixed.example."})
		got := driveDNS(b, addr, names)
		b.ReportMetric(got.qps, "qps")
		b.ReportMetric(ms(got.lat.pct(0.50)), "p50-ms")
		b.ReportMetric(ms(got.lat.pct(0.99)), "p99-ms")
		b.ReportMetric(float64(got.lost), "lost")
		b.ReportMetric(ms(floor.lat.pct(0.50)), "floor-p50-ms")
		b.ReportMetric(ms(floor.lat.pct(0.99)), "floor-p99-ms")
		b.ReportMetric(floor.qps, "floor-qps")
		b.ReportMetric(ms(got.svc.pct(0.99)), "rtt-p99-ms")
		b.ReportMetric(ms(floor.svc.pct(0.99)), "floor-rtt-p99-ms")
		b.Logf("skiff DNS: %.0f qps, from schedule p50 %.3f ms p99 %.3f ms p99.9 %.3f ms; round trip p50 %.3f ms p99 %.3f ms; %d lost",
			got.qps, ms(got.lat.pct(0.5)), ms(got.lat.pct(0.99)), ms(got.lat.pct(0.999)), ms(got.svc.pct(0.5)), ms(got.svc.pct(0.99)), got.lost)
		b.Logf("floor (miekg, fixed record): %.0f qps, from schedule p50 %.3f ms p99 %.3f ms; round trip p50 %.3f ms p99 %.3f ms; %d lost",
			floor.qps, ms(floor.lat.pct(0.5)), ms(floor.lat.pct(0.99)), ms(floor.svc.pct(0.5)), ms(floor.svc.pct(0.99)), floor.lost)
	}
}

func freeUDPPort(b testing.TB) int {
	for {
		// The TCP side must be free too: the DNS server binds both.
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
}

// fixedServer is the floor: miekg/dns answering one A record to everything.
func fixedServer(b testing.TB) (string, func()) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	rr := &mdns.A{Hdr: mdns.RR_Header{Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: net.ParseIP("10.96.0.20").To4()}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		a := *rr
		a.Hdr.Name = r.Question[0].Name
		m.Answer = []mdns.RR{&a}
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	return pc.LocalAddr().String(), func() { _ = srv.Shutdown() }
}

type dnsResult struct {
	qps float64
	// lat counts from the scheduled send time (the driver's lateness included); svc from the
	// actual send (the answer's round trip alone).
	lat, svc latencies
	lost     int
}

// driveDNS sends dnsRate queries/s for dnsDuration from dnsClients UDP sockets, each paced on
// its own schedule, and waits for each answer (1 s timeout counts as lost).
func driveDNS(b testing.TB, addr string, names []string) dnsResult {
	// Pre-packed questions; only the ID changes per send.
	packed := make([][]byte, len(names))
	for i, n := range names {
		m := new(mdns.Msg)
		m.SetQuestion(n, mdns.TypeA)
		buf, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		packed[i] = buf
	}
	interval := time.Second * dnsClients / dnsRate
	perClient := int(dnsDuration / interval)
	var mu sync.Mutex
	var all, allSvc latencies
	lost := 0
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < dnsClients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			conn, err := net.Dial("udp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			lat := make(latencies, 0, perClient)
			svc := make(latencies, 0, perClient)
			lostHere := 0
			q := make([]byte, 512)
			resp := make([]byte, 1500)
			// Spread the clients' schedules across one interval.
			first := start.Add(interval * time.Duration(c) / dnsClients)
			for i := 0; i < perClient; i++ {
				at := first.Add(interval * time.Duration(i))
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				p := packed[(c*perClient+i)%len(packed)]
				n := copy(q, p)
				id := uint16(c<<10 ^ i)
				binary.BigEndian.PutUint16(q[0:2], id)
				sent := time.Now()
				if _, err := conn.Write(q[:n]); err != nil {
					lostHere++
					continue
				}
				for {
					_ = conn.SetReadDeadline(time.Now().Add(time.Second))
					m, err := conn.Read(resp)
					if err != nil {
						lostHere++
						break
					}
					if m < 12 || binary.BigEndian.Uint16(resp[0:2]) != id {
						continue // a late answer to an earlier question
					}
					if resp[3]&0x0f != 0 || binary.BigEndian.Uint16(resp[6:8]) == 0 {
						b.Errorf("no answer for %x", p)
					}
					lat = append(lat, time.Since(at))
					svc = append(svc, time.Since(sent))
					break
				}
			}
			mu.Lock()
			all = append(all, lat...)
			allSvc = append(allSvc, svc...)
			lost += lostHere
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	return dnsResult{qps: float64(len(all)) / elapsed.Seconds(), lat: all, svc: allSvc, lost: lost}
}
