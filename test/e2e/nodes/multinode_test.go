package nodes

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/testcluster"
)

// TestTwoNodes: two agents under one API server, a pod bound to each runs on its node (its
// cgroup under that node's root, its address from that node's CIDR, reachable from that node's
// host) and its logs come back through the API server from the right node.
func TestTwoNodes(t *testing.T) {
	start := time.Now()
	c := testcluster.Start(t, testcluster.Options{Nodes: 2})
	t.Logf("2 nodes Ready in %v", time.Since(start).Round(time.Millisecond))
	ns := c.Namespace(t, "multi")
	for _, n := range c.Nodes {
		node, err := c.Client.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var internal string
		for _, a := range node.Status.Addresses {
			if a.Type == v1.NodeInternalIP {
				internal = a.Address
			}
		}
		if internal != n.IP.String() {
			t.Errorf("node %s InternalIP %q, want %s", n.Name, internal, n.IP)
		}
		c.CreatePod(t, ns, n, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-" + n.Name},
			Spec: v1.PodSpec{Containers: []v1.Container{c.Testserver("app")}}})
	}
	for _, n := range c.Nodes {
		p := c.WaitRunning(t, ns, "web-"+n.Name)
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !n.PodCIDR.Contains(ip) {
			t.Errorf("pod on %s has IP %q, want one in %s", n.Name, p.Status.PodIP, n.PodCIDR)
		}
		if p.Status.HostIP != n.IP.String() {
			t.Errorf("pod on %s has hostIP %q, want %s", n.Name, p.Status.HostIP, n.IP)
		}
		if cg := n.PodCgroups(string(p.UID)); len(cg) == 0 {
			t.Errorf("pod on %s: no cgroup below %s", n.Name, n.CgroupRoot)
		}
		for _, other := range c.Nodes {
			if other != n && len(other.PodCgroups(string(p.UID))) > 0 {
				t.Errorf("pod on %s has a cgroup below %s's root", n.Name, other.Name)
			}
		}
		body, code := n.Get(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/hostname")
		if code != 200 || strings.TrimSpace(body) != p.Name {
			t.Errorf("GET /hostname from %s = %d %q, want %q", n.Name, code, body, p.Name)
		}
		if logs := c.Logs(t, ns, p.Name, "app"); !strings.Contains(logs, "listening on") {
			t.Errorf("logs of the pod on %s: %q", n.Name, logs)
		}
		r := c.Kubectl(t, "", "-n", ns, "logs", p.Name)
		if r.Code != 0 || !strings.Contains(r.Stdout, "listening on") {
			t.Errorf("kubectl logs %s: %s", p.Name, r)
		}
	}
}
