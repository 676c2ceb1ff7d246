package proxy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var testModel = modelConfig{NodeName: "n1", ServiceCIDR: mustPrefix("10.96.0.0/12"), ClusterCIDR: mustPrefix("10.244.0.0/16")}

// chainKinds summarises a ruleset as "kind:count" of its chains, plus its element keys and verdicts.
func summary(rs *ruleset) (chains []string, elems []string) {
	kinds := map[string]int{}
	for name := range rs.Chains {
		kind, _, _ := strings.Cut(name, "-")
		kinds[kind]++
	}
	for _, k := range sortedKeys(kinds) {
		chains = append(chains, fmt.Sprintf("%s:%d", k, kinds[k]))
	}
	for _, k := range sortedElemKeys(rs.Elements) {
		v := rs.Elements[k].String()
		if i := strings.Index(v, "-"); i > 0 && strings.HasPrefix(v, "goto ") && v != "goto "+chainReject {
			v = v[:i] // goto service / local / external
		}
		elems = append(elems, k.String()+" : "+v)
	}
	return chains, elems
}

func TestServiceRules(t *testing.T) {
	ready := func(ip, node string) discoveryv1.Endpoint { return ep(ip, node, true) }
	cases := []struct {
		name       string
		svc        *v1.Service
		slices     []*discoveryv1.EndpointSlice
		wantChains []string
		wantElems  []string
		wantSets   int
	}{
		{
			name:       "clusterIP with two ready endpoints",
			svc:        testService("ns", "web", "10.96.0.10"),
			slices:     testSlice("ns", "web", "s", ready("10.244.0.5", "n1"), ready("10.244.1.5", "n2")),
			wantChains: []string{"endpoint:2", "service:1"},
			wantElems:  []string{"service-ips[10.96.0.10 . tcp . 80] : goto service"},
		},
		{
			name:      "no endpoints: reject",
			svc:       testService("ns", "web", "10.96.0.10", withNodePort(30080)),
			wantElems: []string{"no-endpoint-nodeports[tcp . 30080] : goto reject-chain", "no-endpoint-services[10.96.0.10 . tcp . 80] : goto reject-chain"},
		},
		{
			name:       "unready endpoint left out",
			svc:        testService("ns", "web", "10.96.0.10"),
			slices:     testSlice("ns", "web", "s", ready("10.244.0.5", "n1"), ep("10.244.1.5", "n2", false)),
			wantChains: []string{"endpoint:1", "service:1"},
			wantElems:  []string{"service-ips[10.96.0.10 . tcp . 80] : goto service"},
		},
		{
			name:      "only unready: reject",
			svc:       testService("ns", "web", "10.96.0.10"),
			slices:    testSlice("ns", "web", "s", ep("10.244.1.5", "n2", false)),
			wantElems: []string{"no-endpoint-services[10.96.0.10 . tcp . 80] : goto reject-chain"},
		},
		{
			name:       "nodePort",
			svc:        testService("ns", "web", "10.96.0.10", withNodePort(30080)),
			slices:     testSlice("ns", "web", "s", ready("10.244.0.5", "n1")),
			wantChains: []string{"endpoint:1", "external:1", "service:1"},
			wantElems:  []string{"service-ips[10.96.0.10 . tcp . 80] : goto service", "service-nodeports[tcp . 30080] : goto external"},
		},
		{
			name:       "externalTrafficPolicy Local with a local endpoint",
			svc:        testService("ns", "web", "10.96.0.10", withNodePort(30080), withLocalExternal()),
			slices:     testSlice("ns", "web", "s", ready("10.244.0.5", "n1"), ready("10.244.1.5", "n2")),
			wantChains: []string{"endpoint:2", "external:1", "local:1", "service:1"},
			wantElems:  []string{"service-ips[10.96.0.10 . tcp . 80] : goto service", "service-nodeports[tcp . 30080] : goto external"},
		},
		{
			name:       "externalTrafficPolicy Local without a local endpoint: drop",
			svc:        testService("ns", "web", "10.96.0.10", withNodePort(30080), withLocalExternal()),
			slices:     testSlice("ns", "web", "s", ready("10.244.1.5", "n2")),
			wantChains: []string{"endpoint:1", "service:1"},
			wantElems:  []string{"no-endpoint-nodeports[tcp . 30080] : drop", "service-ips[10.96.0.10 . tcp . 80] : goto service"},
		},
		{
			name:       "internalTrafficPolicy Local",
			svc:        testService("ns", "web", "10.96.0.10", withLocalInternal()),
			slices:     testSlice("ns", "web", "s", ready("10.244.0.5", "n1"), ready("10.244.1.5", "n2")),
			wantChains: []string{"endpoint:1", "local:1"},
			wantElems:  []string{"service-ips[10.96.0.10 . tcp . 80] : goto local"},
		},
		{
			name:      "internalTrafficPolicy Local without a local endpoint: drop",
			svc:       testService("ns", "web", "10.96.0.10", withLocalInternal()),
			slices:    testSlice("ns", "web", "s", ready("10.244.1.5", "n2")),
			wantElems: []string{"no-endpoint-services[10.96.0.10 . tcp . 80] : drop"},
		},
		{
			name:       "ClientIP affinity: a set per endpoint",
			svc:        testService("ns", "web", "10.96.0.10", withAffinity(30)),
			slices:     testSlice("ns", "web", "s", ready("10.244.0.5", "n1"), ready("10.244.1.5", "n2")),
			wantChains: []string{"endpoint:2", "service:1"},
			wantElems:  []string{"service-ips[10.96.0.10 . tcp . 80] : goto service"},
			wantSets:   2,
		},
		{
			name:   "headless: nothing",
			svc:    testService("ns", "web", "None"),
			slices: testSlice("ns", "web", "s", ready("10.244.0.5", "n1")),
		},
		{
			name: "ExternalName: nothing",
			svc: func() *v1.Service {
				s := testService("ns", "web", "")
				s.Spec.Type = v1.ServiceTypeExternalName
				return s
			}(),
		},
		{
			name: "terminating but serving endpoints used when none is ready",
			svc:  testService("ns", "web", "10.96.0.10"),
			slices: testSlice("ns", "web", "s", discoveryv1.Endpoint{Addresses: []string{"10.244.0.5"},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}}),
			wantChains: []string{"endpoint:1", "service:1"},
			wantElems:  []string{"service-ips[10.96.0.10 . tcp . 80] : goto service"},
		},
		{
			name: "slice port of another name: no endpoints",
			svc:  testService("ns", "web", "10.96.0.10"),
			slices: func() []*discoveryv1.EndpointSlice {
				s := testSlice("ns", "web", "s", ready("10.244.0.5", "n1"))
				s[0].Ports[0].Name = ptr.To("metrics")
				return s
			}(),
			wantElems: []string{"no-endpoint-services[10.96.0.10 . tcp . 80] : goto reject-chain"},
		},
		{
			name: "duplicates across slices count once",
			svc:  testService("ns", "web", "10.96.0.10"),
			slices: append(testSlice("ns", "web", "s1", ready("10.244.0.5", "n1")),
				testSlice("ns", "web", "s2", ready("10.244.0.5", "n1"))...),
			wantChains: []string{"endpoint:1", "service:1"},
			wantElems:  []string{"service-ips[10.96.0.10 . tcp . 80] : goto service"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := serviceRules(testModel, tc.svc, tc.slices)
			chains, elems := summary(rs)
			if !slices.Equal(chains, tc.wantChains) {
				t.Errorf("chains %v, want %v", chains, tc.wantChains)
			}
			if !slices.Equal(elems, tc.wantElems) {
				t.Errorf("elements %v, want %v", elems, tc.wantElems)
			}
			if len(rs.Sets) != tc.wantSets {
				t.Errorf("%d sets, want %d", len(rs.Sets), tc.wantSets)
			}
			// Every chain a rule or element refers to exists, in the ruleset or the skeleton.
			for _, ref := range references(rs) {
				if _, ok := rs.Chains[ref]; !ok && !isFixedChain(ref) {
					t.Errorf("reference to missing chain %s\n%s", ref, diff(nil, rs))
				}
			}
		})
	}
}

func references(rs *ruleset) []string {
	var refs []string
	for _, rules := range rs.Chains {
		for _, r := range rules {
			for _, s := range r {
				switch s := s.(type) {
				case jumpTo:
					refs = append(refs, s.Chain)
				case gotoChain:
					refs = append(refs, s.Chain)
				case numgenVmap:
					refs = append(refs, s.Chains...)
				}
			}
		}
	}
	for _, v := range rs.Elements {
		if v.Chain != "" {
			refs = append(refs, v.Chain)
		}
	}
	return refs
}

func TestServiceChainRules(t *testing.T) {
	svc := testService("ns", "web", "10.96.0.10")
	rs := serviceRules(testModel, svc, testSlice("ns", "web", "s", ep("10.244.0.5", "n1", true), ep("10.244.1.5", "n2", true)))
	spn := "ns/web/tcp/80"
	got := fmt.Sprint(rs.Chains[serviceChain(spn)])
	e0, e1 := endpointChain(spn, endpoint{IP: mustAddr("10.244.0.5"), Port: 8080}), endpointChain(spn, endpoint{IP: mustAddr("10.244.1.5"), Port: 8080})
	want := fmt.Sprint([]rule{
		{srcNotIn{testModel.ClusterCIDR}, jumpTo{chainMarkMasq}},
		{numgenVmap{[]string{e0, e1}}},
	})
	if got != want {
		t.Errorf("service chain\n got %s\nwant %s", got, want)
	}
	if got, want := fmt.Sprint(rs.Chains[e0]), "[ip saddr 10.244.0.5 jump mark-for-masquerade meta l4proto tcp dnat to 10.244.0.5:8080]"; got != want {
		t.Errorf("endpoint chain\n got %s\nwant %s", got, want)
	}
}

// TestDeltaIsOChange asserts the incremental property: in a table of many Services, a change to
// one Service's slices yields a delta that touches only that Service's chains and elements, and
// whose size does not grow with the number of Services.
func TestDeltaIsOChange(t *testing.T) {
	state := map[string]*ruleset{}
	slicesOf := map[string][]*discoveryv1.EndpointSlice{}
	services := map[string]*v1.Service{}
	for i := range 200 {
		name := fmt.Sprintf("svc%d", i)
		services[name] = testService("ns", name, fmt.Sprintf("10.96.%d.%d", i/250, i%250+1), withNodePort(int32(30000+i)))
		var eps []discoveryv1.Endpoint
		for j := range 10 {
			eps = append(eps, ep(fmt.Sprintf("10.244.%d.%d", i/25, (i%25)*10+j+1), "n1", true))
		}
		slicesOf[name] = testSlice("ns", name, name+"-s", eps...)
		state[name] = serviceRules(testModel, services[name], slicesOf[name])
	}
	changes := []struct {
		name        string
		mutate      func(svc *v1.Service, sl []*discoveryv1.EndpointSlice)
		wantWritten int // chains rewritten
		wantAdded   int
		wantDeleted int
		wantElems   int // elements deleted + added
	}{
		{"one endpoint unready", func(_ *v1.Service, sl []*discoveryv1.EndpointSlice) {
			sl[0].Endpoints[3].Conditions.Ready = ptr.To(false)
		}, 1, 0, 1, 0},
		{"one endpoint replaced", func(_ *v1.Service, sl []*discoveryv1.EndpointSlice) {
			sl[0].Endpoints[3].Addresses = []string{"10.250.0.1"}
		}, 1, 1, 1, 0},
		{"one endpoint added", func(_ *v1.Service, sl []*discoveryv1.EndpointSlice) {
			sl[0].Endpoints = append(sl[0].Endpoints, ep("10.250.0.2", "n1", true))
		}, 1, 1, 0, 0},
		{"all endpoints gone", func(_ *v1.Service, sl []*discoveryv1.EndpointSlice) {
			sl[0].Endpoints = nil
		}, 0, 0, 12, 4},
		{"affinity on", func(svc *v1.Service, _ []*discoveryv1.EndpointSlice) {
			withAffinity(10)(svc)
		}, 11, 0, 0, 0},
		{"nodePort changed", func(svc *v1.Service, _ []*discoveryv1.EndpointSlice) {
			svc.Spec.Ports[0].NodePort = 31999
		}, 0, 0, 0, 2},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			svc := services["svc7"].DeepCopy()
			sl := []*discoveryv1.EndpointSlice{slicesOf["svc7"][0].DeepCopy()}
			c.mutate(svc, sl)
			cur := serviceRules(testModel, svc, sl)
			d := diff(state["svc7"], cur)
			if len(d.WriteChains)-len(d.AddChains) != c.wantWritten || len(d.AddChains) != c.wantAdded ||
				len(d.DelChains) != c.wantDeleted || len(d.DelElems)+len(d.AddElems) != c.wantElems {
				t.Errorf("rewritten %d, added %d, deleted %d chains, %d element changes; want %d, %d, %d, %d\n%s",
					len(d.WriteChains)-len(d.AddChains), len(d.AddChains), len(d.DelChains), len(d.DelElems)+len(d.AddElems),
					c.wantWritten, c.wantAdded, c.wantDeleted, c.wantElems, d)
			}
			// Nothing outside svc7 is touched.
			for _, line := range strings.Split(strings.TrimSpace(d.String()), "\n") {
				if strings.HasPrefix(line, "\t") {
					continue
				}
				if !strings.Contains(line, "ns/svc7/") && !strings.Contains(line, "affinity-") &&
					!strings.Contains(line, "10.96.0.8 ") && !strings.Contains(line, "3000") && !strings.Contains(line, "31999") {
					t.Errorf("delta touches another owner: %s", line)
				}
			}
			// Bounded by the Service's own size, never the table's (200 Services here).
			if limit := diff(nil, cur).size() + diff(state["svc7"], nil).size(); d.size() > limit {
				t.Errorf("delta of %d messages, more than removing and writing the Service again (%d)", d.size(), limit)
			}
		})
	}
	// No change, no delta.
	if d := diff(state["svc7"], serviceRules(testModel, services["svc7"], slicesOf["svc7"])); !d.empty() {
		t.Errorf("unchanged Service produced a delta:\n%s", d)
	}
}

func TestDiffOrder(t *testing.T) {
	old := serviceRules(testModel, testService("ns", "web", "10.96.0.10", withAffinity(10)),
		testSlice("ns", "web", "s", ep("10.244.0.5", "n1", true)))
	d := diff(old, nil)
	if len(d.DelChains) != 2 || len(d.DelSets) != 1 || len(d.DelElems) != 1 || len(d.AddElems)+len(d.AddChains)+len(d.WriteChains) != 0 {
		t.Fatalf("removal delta:\n%s", d)
	}
	// A verdict change is a delete and an add of the same key.
	cur := serviceRules(testModel, testService("ns", "web", "10.96.0.10"), nil)
	d = diff(old, cur)
	if len(d.DelElems) != 1 || len(d.AddElems) != 1 || d.AddElems[0].Verdict.Chain != chainReject {
		t.Fatalf("verdict change:\n%s", d)
	}
}

func TestHostPortRules(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
		Spec: v1.PodSpec{Containers: []v1.Container{{Ports: []v1.ContainerPort{
			{ContainerPort: 80, HostPort: 8080},
			{ContainerPort: 53, HostPort: 5353, Protocol: v1.ProtocolUDP, HostIP: "198.18.0.1"},
			{ContainerPort: 81},
		}}}},
		Status: v1.PodStatus{PodIP: "10.244.0.9", Phase: v1.PodRunning}}
	_, elems := summary(hostPortRules(pod))
	want := []string{"hostport-ips[198.18.0.1 . udp . 5353] : goto hostport", "hostports-any[tcp . 8080] : goto hostport"}
	if !slices.Equal(elems, want) {
		t.Errorf("elements %v, want %v", elems, want)
	}
	for _, p := range []func(*v1.Pod){
		func(p *v1.Pod) { p.Status.PodIP = "" },
		func(p *v1.Pod) { p.Spec.HostNetwork = true },
		func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded },
		func(p *v1.Pod) { p.Status.PodIP = "not-an-ip" },
	} {
		q := pod.DeepCopy()
		p(q)
		if rs := hostPortRules(q); !rs.empty() {
			t.Errorf("pod %+v: want no rules, got %s", q.Status, diff(nil, rs))
		}
	}
}

func TestConntrackFilters(t *testing.T) {
	udp := func(eps ...string) *ruleset {
		var sl []*discoveryv1.EndpointSlice
		var list []discoveryv1.Endpoint
		for _, e := range eps {
			list = append(list, ep(e, "n1", true))
		}
		sl = testSlice("ns", "dns", "s", list...)
		sl[0].Ports[0].Protocol = ptr.To(v1.ProtocolUDP)
		return serviceRules(testModel, testService("ns", "dns", "10.96.0.10", withUDP()), sl)
	}
	cases := []struct {
		name     string
		old, cur *ruleset
		want     int
	}{
		{"restart: nothing known", nil, udp("10.244.0.5"), 0},
		{"unchanged", udp("10.244.0.5"), udp("10.244.0.5"), 0},
		{"endpoint gone", udp("10.244.0.5", "10.244.0.6"), udp("10.244.0.5"), 1},
		{"first endpoint", udp(), udp("10.244.0.5"), 1},
		{"Service gone", udp("10.244.0.5"), newRuleset(), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := conntrackFilters(tc.old, tc.cur); len(got) != tc.want {
				t.Errorf("%d filters, want %d", len(got), tc.want)
			}
		})
	}
}

func TestTableName(t *testing.T) {
	a, b := TableName("node-a"), TableName("node-b")
	if a == b || !strings.HasPrefix(a, "skiff-node-a-") {
		t.Errorf("TableName: %q, %q", a, b)
	}
	long := TableName(strings.Repeat("x", 300))
	if len(long) > 60 {
		t.Errorf("TableName of a long name is %d characters", len(long))
	}
	if TableName("Node/ä") == TableName("node") {
		t.Error("different names, one table")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{},
		{NodeName: "n"},
		{NodeName: "n", ServiceCIDR: "nope"},
		{NodeName: "n", ServiceCIDR: "fd00::/108"},
		{NodeName: "n", ServiceCIDR: "10.96.0.0/12", ClusterCIDR: "x"},
		{NodeName: "n", ServiceCIDR: "10.96.0.0/12", Table: "a b"},
	} {
		if _, err := c.model(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
