package workloads

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testcluster"
)

// The node lifecycle settings of TestNodeFailure: a silent node is Unknown after grace, checked
// every monitorPeriod; agents renew their Lease every quarter of leaseSeconds, several times
// within the grace even on a loaded machine, so that only the killed node goes Unknown.
const (
	grace         = 5 * time.Second
	monitorPeriod = 500 * time.Millisecond
	leaseSeconds  = "2"
	tolerateFor   = 2 // seconds a pod stays on an unreachable or not-ready node
)

// TestNodeFailure kills one of two node agents (SIGKILL) under a Deployment's pods: the node goes
// Unknown and gets the unreachable taint, its pods are evicted after their tolerationSeconds and
// replaced on the other node. The agent then comes back and tears down the evicted pods.
func TestNodeFailure(t *testing.T) {
	c := startCluster(t, 2, func(cfg *server.Config) {
		cfg.NodeMonitorGracePeriod, cfg.NodeMonitorPeriod = grace, monitorPeriod
	}, func(*testcluster.Node) []string { return []string{"--node-lease-duration-seconds", leaseSeconds} })
	ns := namespace(t, c, "failover")
	ctx := context.Background()

	d := deployment(c, "web", 4)
	d.Spec.Template.Spec.Tolerations = []v1.Toleration{
		{Key: v1.TaintNodeUnreachable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](tolerateFor)},
		{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](tolerateFor)},
	}
	pods := runDeployment(t, c, ns, d)
	perNode := map[string][]*v1.Pod{}
	for _, p := range pods {
		perNode[p.Spec.NodeName] = append(perNode[p.Spec.NodeName], p)
	}
	// The node to kill is one that runs pods (the scheduler spreads them; if it did not, the
	// one that has them all).
	victim, survivor := c.Nodes[0], c.Nodes[1]
	if len(perNode[victim.Name]) == 0 {
		victim, survivor = survivor, victim
	}
	evicted := perNode[victim.Name]
	t.Logf("pods per node: %s %d, %s %d; killing the agent of %s", c.Nodes[0].Name, len(perNode[c.Nodes[0].Name]),
		c.Nodes[1].Name, len(perNode[c.Nodes[1].Name]), victim.Name)

	w := watchPods(t, c.Client, ns, "app=web")
	killed := time.Now()
	victim.Kill(t)
	// Whatever happens next, the agent runs again before the cleanups, which need it to tear its
	// pods down.
	t.Cleanup(func() {
		if !victim.Running() {
			victim.Start(t)
		}
	})

	// Unknown after the grace; the taint may then wait for its zone's eviction limiter (0.1 nodes/s,
	// whose one token the nodes' own not-ready taints at registration may have taken).
	poll(t, "the killed node Unknown with the unreachable NoExecute taint", grace+time.Minute, func() (bool, string) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, victim.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		unknown := false
		for _, cd := range n.Status.Conditions {
			if cd.Type == v1.NodeReady {
				unknown = cd.Status == v1.ConditionUnknown
			}
		}
		tainted := false
		for _, tn := range n.Spec.Taints {
			if tn.Key == v1.TaintNodeUnreachable && tn.Effect == v1.TaintEffectNoExecute {
				tainted = true
			}
		}
		return unknown && tainted, fmt.Sprintf("conditions %v taints %v", n.Status.Conditions, n.Spec.Taints)
	})
	// The survivor never looked silent.
	if n, err := c.Client.CoreV1().Nodes().Get(ctx, survivor.Name, metav1.GetOptions{}); err != nil || !testcluster.NodeReady(n) || len(n.Spec.Taints) != 0 {
		t.Fatalf("surviving node %s: %v %+v", survivor.Name, err, n)
	}

	final := w.waitFor(t, "4 ready pods on the surviving node, the killed node's pods evicted", 2*time.Minute, func(pods map[string]*v1.Pod) bool {
		onSurvivor := count(pods, func(p *v1.Pod) bool { return ready(p) && p.Spec.NodeName == survivor.Name })
		for _, e := range evicted {
			if p, ok := pods[e.Name]; ok && p.DeletionTimestamp == nil {
				return false
			}
		}
		return onSurvivor == 4
	})
	t.Logf("%d pods replaced on %s %v after the kill", len(evicted), survivor.Name, time.Since(killed).Round(time.Millisecond))
	for _, p := range final {
		if p.DeletionTimestamp != nil || p.Spec.NodeName != survivor.Name {
			continue
		}
		if body, code := survivor.Get(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/hostname"); code != 200 || strings.TrimSpace(body) != p.Name {
			t.Errorf("%s answers %d %q", p.Name, code, body)
		}
	}
	for _, e := range evicted {
		c.WaitEvents(t, ns, e.Name, "TaintManagerEviction")
	}

	// The agent comes back: it finds its evicted pods deleted, stops them and lets them go.
	victim.Start(t)
	c.WaitNodesReady(t, time.Minute)
	poll(t, "the evicted pods gone from the API", time.Minute, func() (bool, string) {
		var left []string
		for _, e := range evicted {
			p, err := c.Client.CoreV1().Pods(ns).Get(ctx, e.Name, metav1.GetOptions{})
			if err == nil && p.UID == e.UID {
				left = append(left, e.Name)
			} else if err != nil && !apierrors.IsNotFound(err) {
				left = append(left, e.Name+": "+err.Error())
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
	waitNoLeftovers(t, c, evicted)
	poll(t, "the restarted node untainted", time.Minute, func() (bool, string) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, victim.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(n.Spec.Taints) == 0, fmt.Sprint(n.Spec.Taints)
	})
}
