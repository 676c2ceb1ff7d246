package nodelifecycle_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-dev/skiff/internal/controller/nodelifecycle"
	"github.com/skiff-dev/skiff/internal/testserver"
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

// fakeAgent is a test-only node agent: it registers a Ready node and renews its Lease until
// stopped, as a live kubelet would.
type fakeAgent struct {
	stop chan struct{}
	done chan struct{}
}

func startAgent(t *testing.T, cs kubernetes.Interface, name string) *fakeAgent {
	t.Helper()
	ctx := context.Background()
	now := metav1.Now()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	holder := name
	dur := int32(40)
	rt := metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: name},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &rt}}
	if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, l, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-tick.C:
			}
			l, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			rt := metav1.NewMicroTime(time.Now())
			l.Spec.RenewTime = &rt
			cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, l, metav1.UpdateOptions{})
		}
	}()
	t.Cleanup(a.halt)
	return a
}

func (a *fakeAgent) halt() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
}

func TestNodeLeaseExpiry(t *testing.T) {
	s := testserver.Start(t)
	cs := s.Client
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dying := startAgent(t, cs, "node-a")
	startAgent(t, cs, "node-b")

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
		p, err := cs.CoreV1().Pods("app").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := cs.CoreV1().Pods("app").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
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
	dying.halt()
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
		if p != nil && p.Status.Conditions[0].Status != corev1.ConditionFalse {
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
	l, _ := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "node-a", metav1.GetOptions{})
	rt := metav1.NewMicroTime(time.Now())
	l.Spec.RenewTime = &rt
	if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	node, _ = cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	now := metav1.Now()
	for i := range node.Status.Conditions {
		cd := &node.Status.Conditions[i]
		cd.Status, cd.LastHeartbeatTime, cd.LastTransitionTime = corev1.ConditionTrue, now, now
		if cd.Type != corev1.NodeReady {
			cd.Status = corev1.ConditionFalse
		}
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "taints removed once node-a is back", func() bool {
		node, _ = cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		return len(node.Spec.Taints) == 0
	})
}
