package kubelet

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestPodFiles(t *testing.T) {
	hostResolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(hostResolv, []byte("# host\nnameserver 192.0.2.53\nsearch example.com\noptions ndots:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	two := "2"
	for _, tc := range []struct {
		name              string
		clusterDNS        bool
		spec              v1.PodSpec
		hostsHas, hostsNo []string
		resolv            string
	}{
		{name: "web", spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirst},
			hostsHas: []string{"# Kubernetes-managed hosts file.\n", "127.0.0.1\tlocalhost\n", "10.0.0.7\tweb\n"},
			resolv:   "search example.com\nnameserver 192.0.2.53\noptions ndots:2\n"},
		{name: "sub", spec: v1.PodSpec{Hostname: "h", Subdomain: "svc", DNSPolicy: v1.DNSDefault,
			HostAliases: []v1.HostAlias{{IP: "192.0.2.9", Hostnames: []string{"a", "b"}}}},
			hostsHas: []string{"10.0.0.7\th.svc.ns.svc.cluster.local\th\n", "# Entries added by HostAliases.\n192.0.2.9\ta\tb\n"},
			hostsNo:  []string{"\tsub\n"},
			resolv:   "search example.com\nnameserver 192.0.2.53\noptions ndots:2\n"},
		{name: "cluster", clusterDNS: true, spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirst},
			resolv: "search ns.svc.cluster.local svc.cluster.local cluster.local example.com\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "cluster-dnsconfig", clusterDNS: true, spec: v1.PodSpec{DNSConfig: &v1.PodDNSConfig{Searches: []string{"svc.cluster.local", "x.y"},
			Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: &two}}}},
			resolv: "search ns.svc.cluster.local svc.cluster.local cluster.local example.com x.y\nnameserver 10.96.0.10\noptions ndots:2\n"},
		{name: "hostnet", clusterDNS: true, spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirst, HostNetwork: true},
			resolv: "search example.com\nnameserver 192.0.2.53\noptions ndots:2\n"},
		{name: "hostnet-cluster", clusterDNS: true, spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirstWithHostNet, HostNetwork: true},
			resolv: "search ns.svc.cluster.local svc.cluster.local cluster.local example.com\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "default", clusterDNS: true, spec: v1.PodSpec{DNSPolicy: v1.DNSDefault},
			resolv: "search example.com\nnameserver 192.0.2.53\noptions ndots:2\n"},
		{name: "none", spec: v1.PodSpec{DNSPolicy: v1.DNSNone, DNSConfig: &v1.PodDNSConfig{
			Nameservers: []string{"198.51.100.1"}, Searches: []string{"a.b"},
			Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: &two}, {Name: "edns0"}}}},
			resolv: "search a.b\nnameserver 198.51.100.1\noptions ndots:2 edns0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.k.cfg.ResolvConf = hostResolv
			if tc.clusterDNS {
				h.k.cfg.ClusterDNS = []net.IP{net.ParseIP("10.96.0.10")}
			}
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: "ns", UID: types.UID("u-" + tc.name)}, Spec: tc.spec}
			if err := h.k.writePodFiles(pod, "10.0.0.7"); err != nil {
				t.Fatal(err)
			}
			dir := h.k.volumes.PodDir(pod.UID)
			hosts, _ := os.ReadFile(filepath.Join(dir, "etc-hosts"))
			for _, want := range tc.hostsHas {
				if !strings.Contains(string(hosts), want) {
					t.Errorf("hosts lacks %q:\n%s", want, hosts)
				}
			}
			for _, no := range tc.hostsNo {
				if strings.Contains(string(hosts), no) {
					t.Errorf("hosts has %q:\n%s", no, hosts)
				}
			}
			if resolv, _ := os.ReadFile(filepath.Join(dir, "resolv.conf")); string(resolv) != tc.resolv {
				t.Errorf("resolv.conf = %q, want %q", resolv, tc.resolv)
			}
		})
	}
}
