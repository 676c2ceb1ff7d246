package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/network/nettest"
	"github.com/skiff-dev/skiff/internal/proxy"
)

const (
	proxyServices  = 1000
	proxyEndpoints = 10
	proxyChanges   = 200
)

// BenchmarkProxyProgramming measures network programming latency: from an EndpointSlice update
// accepted by the API server to the node's nftables table holding the new endpoint (its chain,
// with the DNAT to its address, read back over netlink), with 1,000 Services of 10 endpoints each
// programmed. The proxy runs in this process on a node namespace of its own (nettest), against a
// `skiff server` process. The floor: a raw netlink batch of the same shape as the proxy's for one
// such change (rewrite the Service's balancing chain, add one endpoint chain, delete another), in
// the same namespace and run.
func BenchmarkProxyProgramming(b *testing.B) {
	nettest.RequireRoot(b)
	s := startServer(b)
	client := s.client(b)
	ns := nettest.NewNamespace(b, "proxy")
	ctx := context.Background()

	// 1,000 Services and their slices, written by 16 clients.
	vips := make([]string, proxyServices)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < proxyServices; i += 16 {
				svc, err := client.CoreV1().Services("default").Create(ctx, &v1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", i)},
					Spec:       v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}}},
				}, metav1.CreateOptions{})
				if err != nil {
					errs <- err
					return
				}
				vips[i] = svc.Spec.ClusterIP
				if _, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, benchSlice(i, 0), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}

	cfg := proxy.Config{NodeName: "bench-node", ServiceCIDR: "10.96.0.0/12", ClusterCIDR: "10.244.0.0/16", NetNS: ns.Path}
	p, err := proxy.New(client, cfg)
	if err != nil {
		b.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.Run(pctx) }()
	b.Cleanup(func() { cancel(); <-done; proxy.Cleanup(cfg) })
	select {
	case <-p.Synced():
	case err := <-done:
		b.Fatal(err)
	case <-time.After(120 * time.Second):
		b.Fatal("the proxy did not program 1,000 Services in 2 minutes")
	}
	initial := time.Since(start)

	conn, closeConn := nftConn(b, ns)
	defer closeConn()
	table := &nftables.Table{Name: p.Table(), Family: nftables.TableFamilyIPv4}

	b.ResetTimer()
	var lat latencies
	for n := range b.N * proxyChanges {
		i := (n * 7919) % proxyServices // spread over the Services
		gen := n + 1
		sl := benchSlice(i, gen)
		cur, err := client.DiscoveryV1().EndpointSlices("default").Get(ctx, sl.Name, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		sl.ResourceVersion = cur.ResourceVersion
		// The new endpoint: the last one of the slice (benchSlice varies it by gen).
		want := netip.AddrPortFrom(netip.MustParseAddr(sl.Endpoints[proxyEndpoints-1].Addresses[0]), 8080)
		chain := proxy.EndpointChain("default", sl.Labels[discoveryv1.LabelServiceName], v1.ProtocolTCP, 80, want)
		t0 := time.Now()
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		for !programmed(conn, table, chain, want) {
			if time.Since(t0) > 10*time.Second {
				b.Fatalf("endpoint %s of service %d not programmed after 10 s", want, i)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(ms(lat.pct(0.50)), "p50-ms")
	b.ReportMetric(ms(lat.pct(0.99)), "p99-ms")
	b.ReportMetric(ms(initial), "initial-sync-ms")

	floor := rawBatchFloor(b, conn)
	b.ReportMetric(ms(floor.pct(0.50)), "floor-p50-ms")
	b.ReportMetric(ms(floor.pct(0.99)), "floor-p99-ms")
}

// benchSlice is Service i's slice; gen varies its last endpoint's address.
func benchSlice(i, gen int) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("s%d-1", i), Labels: map[string]string{discoveryv1.LabelServiceName: fmt.Sprintf("s%d", i)}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To(int32(8080))}},
	}
	for j := range proxyEndpoints {
		addr := fmt.Sprintf("10.%d.%d.%d", 128+i/250, i%250, j+1)
		if j == proxyEndpoints-1 {
			addr = fmt.Sprintf("10.%d.%d.%d", 64+gen/60000%64, gen/250%240, gen%250+1)
		}
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{addr}, NodeName: ptr.To("bench-node"),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	return sl
}

// programmed reads the endpoint's chain back and checks that it DNATs to the endpoint's address.
func programmed(conn *nftables.Conn, table *nftables.Table, chain string, ep netip.AddrPort) bool {
	rules, err := conn.GetRules(table, &nftables.Chain{Name: chain, Table: table})
	if err != nil {
		return false
	}
	a := ep.Addr().As4()
	for _, r := range rules {
		for _, e := range r.Exprs {
			if im, ok := e.(*expr.Immediate); ok && bytes.Equal(im.Data, a[:]) {
				return true
			}
		}
	}
	return false
}

func nftConn(b *testing.B, ns *nettest.Namespace) (*nftables.Conn, func()) {
	fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting())
	if err != nil {
		b.Fatal(err)
	}
	return c, func() { c.CloseLasting(); unix.Close(fd) }
}

// rawBatchFloor times, with google/nftables alone, batches shaped like the proxy's for one
// endpoint change of a 10-endpoint Service: flush and rewrite the balancing chain (a masquerade
// rule and a numgen vmap over 10 endpoint chains), create and fill one endpoint chain, flush and
// delete another. Chain names are as long as the proxy's.
func rawBatchFloor(b *testing.B, c *nftables.Conn) latencies {
	t := c.AddTable(&nftables.Table{Name: "bench-floor", Family: nftables.TableFamilyIPv4})
	name := func(j int) string { return fmt.Sprintf("endpoint-ABCDEFGH-default/s123/tcp/80__10.128.0.%d:8080", j) }
	svc := c.AddChain(&nftables.Chain{Name: "service-ABCDEFGH-default/s123/tcp/80", Table: t})
	for j := range proxyEndpoints + 1 {
		c.AddChain(&nftables.Chain{Name: name(j), Table: t})
	}
	if err := c.Flush(); err != nil {
		b.Fatal(err)
	}
	defer func() { c.DelTable(t); c.Flush() }()
	endpointRules := func(ch *nftables.Chain, j int) {
		ip := []byte{10, 128, 0, byte(j)}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: svc.Name}}})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Immediate{Register: 1, Data: ip},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(8080)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true}}})
	}
	var lat latencies
	live := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	spare := 10
	for n := range proxyChanges {
		gone := live[n%proxyEndpoints]
		live[n%proxyEndpoints] = spare
		spare = gone
		t0 := time.Now()
		newCh := &nftables.Chain{Name: name(live[n%proxyEndpoints]), Table: t}
		c.AddChain(newCh)
		c.FlushChain(newCh)
		endpointRules(newCh, live[n%proxyEndpoints])
		c.FlushChain(svc)
		c.AddRule(&nftables.Rule{Table: t, Chain: svc, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{10, 244, 0, 0}},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: name(live[0])}}})
		m := &nftables.Set{Table: t, Anonymous: true, Constant: true, IsMap: true, KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict}
		var elems []nftables.SetElement
		for k, j := range live {
			elems = append(elems, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(k)),
				VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: name(j)}})
		}
		if err := c.AddSet(m, elems); err != nil {
			b.Fatal(err)
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: svc, Exprs: []expr.Any{
			&expr.Numgen{Register: 1, Modulus: proxyEndpoints, Type: unix.NFT_NG_RANDOM},
			&expr.Lookup{SourceRegister: 1, SetName: m.Name, SetID: m.ID, IsDestRegSet: true}}})
		goneCh := &nftables.Chain{Name: name(gone), Table: t}
		c.FlushChain(goneCh)
		if err := c.Flush(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	return lat
}
