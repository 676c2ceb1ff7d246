package network

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/testcluster"
)

// testDNS: from a busybox pod on each node (so through the local DNAT on one and across the LAN
// on the other), nslookup answers the Service name with its ClusterIP, kubernetes.default with
// the API's, web-0.nginx.<ns>.svc.cluster.local with web-0's current IP, also once web-0 is
// replaced, and forwards a name outside the cluster to the upstream stub.
func testDNS(t *testing.T, c *testcluster.Cluster, ns, echoIP string) {
	ctx := context.Background()
	kube, err := c.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "nginx"}
	if _, err := c.Client.CoreV1().Services(ns).Create(ctx, &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec: v1.ServiceSpec{ClusterIP: v1.ClusterIPNone, Selector: labels, Ports: []v1.ServicePort{{Name: "web", Port: 8080}}}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	app := c.Testserver("app")
	app.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/readyz", Port: intOrString(8080)}}, PeriodSeconds: 1}
	if _, err := c.Client.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.StatefulSetSpec{ServiceName: "nginx", Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: v1.PodSpec{
				Containers: []v1.Container{app}, TerminationGracePeriodSeconds: ptr(int64(1))}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web0 := c.WaitRunning(t, ns, "web-0")
	fqdn := "web-0.nginx." + ns + ".svc.cluster.local"
	for _, n := range c.Nodes {
		client := "client-" + n.Name
		c.WaitRunning(t, ns, client)
		lookup(t, c, ns, client, "echo", echoIP)
		// busybox 1.35's nslookup applies the search list only to names without a dot (the
		// reason upstream's DNS guide pins busybox 1.28), so it asks for kubernetes.default as
		// is, which is NXDOMAIN on any cluster; the libc resolver, which ping uses, searches.
		lookup(t, c, ns, client, "kubernetes.default.svc.cluster.local", kube.Spec.ClusterIP)
		resolve(t, c, ns, client, "kubernetes.default", kube.Spec.ClusterIP)
		lookup(t, c, ns, client, fqdn, web0.Status.PodIP)
		lookup(t, c, ns, client, strings.TrimSuffix(stubName, "."), stubIP)
	}

	// web-0 goes and comes back; the name follows its new address.
	old := web0
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	web0 = c.WaitPod(t, ns, "web-0", "a new web-0 Running and Ready", 2*time.Minute, func(p *v1.Pod) bool {
		return p.UID != old.UID && p.Status.Phase == v1.PodRunning && testcluster.PodReady(p) && p.Status.PodIP != ""
	})
	if web0.Status.PodIP == old.Status.PodIP {
		t.Logf("the new web-0 got its predecessor's address %s again: the check below shows only that the name still answers", old.Status.PodIP)
	} else {
		t.Logf("web-0 came back at %s (was %s)", web0.Status.PodIP, old.Status.PodIP)
	}
	for _, n := range c.Nodes {
		lookup(t, c, ns, "client-"+n.Name, fqdn, web0.Status.PodIP)
	}
}

// lookup runs nslookup name in the client pod until it answers want (bounded: the DNS follows the
// API within a second, the endpoints controller within its batching); the answer must never hold
// an address other than want.
func lookup(t *testing.T, c *testcluster.Cluster, ns, client, name, want string) {
	t.Helper()
	start := time.Now()
	var last testcluster.Result
	for {
		// Not the exit code: nslookup of a short name exits 1 when any search domain fails.
		last = c.Kubectl(t, "", "-n", ns, "exec", client, "--", "nslookup", name)
		if addrs := answers(last.Stdout); len(addrs) == 1 && addrs[0] == want {
			t.Logf("%s: nslookup %s = %s after %v", client, name, want, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%s: nslookup %s: want only %s; %s", client, name, want, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// answers picks the addresses of the answer section of busybox nslookup's output: the
// "Address:" lines after the first "Name:" line (those before it are the server's).
func answers(out string) []string {
	var addrs []string
	inAnswer := false
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "Name:"):
			inAnswer = true
		case inAnswer && strings.HasPrefix(l, "Address"):
			f := strings.Fields(strings.SplitN(l, ":", 2)[1])
			if len(f) > 0 {
				addrs = append(addrs, f[0])
			}
		}
	}
	return addrs
}

// resolve resolves name in the client pod through its libc resolver (resolv.conf's search list and
// ndots) by pinging it once: ping prints the address it resolved; the ping itself may go
// unanswered.
func resolve(t *testing.T, c *testcluster.Cluster, ns, client, name, want string) {
	t.Helper()
	start := time.Now()
	for {
		r := c.Kubectl(t, "", "-n", ns, "exec", client, "--", "ping", "-c", "1", "-W", "1", name)
		if strings.Contains(r.Stdout, "PING "+name+" ("+want+")") {
			t.Logf("%s: %s resolves to %s through the search list after %v", client, name, want, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%s: resolving %s: want %s; %s", client, name, want, r)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
