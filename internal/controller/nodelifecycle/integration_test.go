package nodelifecycle_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-dev/skiff/internal/controller/nodelifecycle"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/fakenodes"
)

func logger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Now()
}

// readyStatus is the status of a pod's Ready condition ("" without one).
func readyStatus(p *corev1.Pod) corev1.ConditionStatus {
	i := slices.IndexFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodReady })
	if i < 0 {
		return ""
	}
	return p.Status.Conditions[i].Status
}

func TestNodeLeaseExpiry(t *testing.T) {
	s := testserver.Start(t)
	cs := s.Client
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	actx, stopAgents := context.WithCancel(ctx)
	t.Cleanup(stopAgents)
	// Renewing every 200 ms against a 2 s grace period, as a kubelet's 10 s against 40 s.
	agents, err := fakenodes.Start(actx, cs, fakenodes.Options{Nodes: []string{"node-a", "node-b"}, LeaseRenew: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	secs := func(s int64) *int64 { return &s }
	pods := map[string][]corev1.Toleration{
		// 2 s instead of the 300 s the API server adds by default.
		"short":   {{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(2)}},
		"forever": {{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}},
		"default": nil,
	}
	for name, tols := range pods {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeName: "node-a", Tolerations: tols, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := cs.CoreV1().Pods("app").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "pods Ready on node-a", func() bool {
		for name := range pods {
			if p, err := cs.CoreV1().Pods("app").Get(ctx, name, metav1.GetOptions{}); err != nil || readyStatus(p) != corev1.ConditionTrue {
				return false
			}
		}
		return true
	})
	def, _ := cs.CoreV1().Pods("app").Get(ctx, "default", metav1.GetOptions{})
	if !slices.ContainsFunc(def.Spec.Tolerations, func(tol corev1.Toleration) bool {
		return tol.Key == corev1.TaintNodeUnreachable && tol.TolerationSeconds != nil && *tol.TolerationSeconds == 300
	}) {
		t.Fatalf("DefaultTolerationSeconds did not add the 300 s toleration: %+v", def.Spec.Tolerations)
	}

	bc := record.NewBroadcaster()
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	f := informers.NewSharedInformerFactory(cs, 0)
	grace := 2 * time.Second
	c, err := nodelifecycle.New(nodelifecycle.Config{Client: cs, Informers: f, Logger: logger(),
		Recorder:    bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-controller"}),
		GracePeriod: grace, MonitorPeriod: 100 * time.Millisecond, EvictionRate: 10})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	f.Start(cctx.Done())
	go func() { c.Run(cctx, 2); close(done) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown(); bc.Shutdown() })

	time.Sleep(grace + time.Second) // both nodes renewing: nothing happens
	if n, _ := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{}); len(n.Spec.Taints) != 0 {
		t.Fatalf("healthy node tainted: %v", n.Spec.Taints)
	}

	stopped := time.Now()
	agents.Halt("node-a")
	var node *corev1.Node
	tainted := eventually(t, 10*time.Second, "node-a unreachable", func() bool {
		node, _ = cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		return slices.ContainsFunc(node.Spec.Taints, func(tt corev1.Taint) bool {
			return tt.Key == corev1.TaintNodeUnreachable && tt.Effect == corev1.TaintEffectNoExecute
		})
	})
	for _, cd := range node.Status.Conditions {
		reason, msg := "NodeStatusUnknown", "Kubelet stopped posting node status."
		if cd.Type == corev1.NodeDiskPressure || cd.Type == corev1.NodePIDPressure { // never posted by this agent
			reason, msg = "NodeStatusNeverUpdated", "Kubelet never posted node status."
		}
		if cd.Status != corev1.ConditionUnknown || cd.Reason != reason || cd.Message != msg {
			t.Errorf("condition %s = %s %s %q", cd.Type, cd.Status, cd.Reason, cd.Message)
		}
	}
	if len(node.Status.Conditions) != 4 {
		t.Errorf("conditions %+v, want Ready and the three pressures", node.Status.Conditions)
	}
	eventually(t, 5*time.Second, "unreachable NoSchedule taint", func() bool {
		node, _ = cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		return slices.ContainsFunc(node.Spec.Taints, func(tt corev1.Taint) bool {
			return tt.Key == corev1.TaintNodeUnreachable && tt.Effect == corev1.TaintEffectNoSchedule
		})
	})
	evicted := eventually(t, 10*time.Second, "pod short evicted", func() bool {
		p, err := cs.CoreV1().Pods("app").Get(ctx, "short", metav1.GetOptions{})
		return err != nil || p.DeletionTimestamp != nil
	})
	t.Logf("lease stopped -> NoExecute taint: %s (grace %s); taint -> eviction of a 2 s toleration: %s",
		tainted.Sub(stopped).Round(time.Millisecond), grace, evicted.Sub(tainted).Round(time.Millisecond))
	if d := evicted.Sub(tainted); d < 2*time.Second-100*time.Millisecond {
		t.Errorf("pod evicted %s after the taint, before its 2 s toleration", d)
	}
	for _, name := range []string{"forever", "default"} {
		p, err := cs.CoreV1().Pods("app").Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp != nil {
			t.Errorf("pod %s evicted: %v", name, err)
		}
		if p != nil && readyStatus(p) != corev1.ConditionFalse {
			t.Errorf("pod %s on the unreachable node still Ready", name)
		}
	}
	eventually(t, 10*time.Second, "TaintManagerEviction event", func() bool {
		evs, _ := cs.CoreV1().Events("app").List(ctx, metav1.ListOptions{})
		for _, e := range evs.Items {
			if e.Reason == "TaintManagerEviction" && e.Message == "Marking for deletion Pod app/short" && e.InvolvedObject.Name == "short" {
				return true
			}
		}
		return false
	})
	if n, _ := cs.CoreV1().Nodes().Get(ctx, "node-b", metav1.GetOptions{}); len(n.Spec.Taints) != 0 {
		t.Errorf("healthy node-b tainted: %v", n.Spec.Taints)
	}

	// The agent comes back: renews and posts Ready; the taints go.
	if err := agents.Resume(ctx, "node-a"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "taints removed once node-a is back", func() bool {
		node, _ = cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		return len(node.Spec.Taints) == 0
	})
}
