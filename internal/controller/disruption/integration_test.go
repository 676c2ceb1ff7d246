package disruption_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/controller/disruption"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/embeddedkubectl"
	"github.com/skiff-dev/skiff/test/fakenodes"
)

// kubectl runs the real kubectl in-process against s; it returns stdout and stderr.
func kubectl(t *testing.T, s *testserver.Server, args ...string) (string, string) {
	t.Helper()
	return embeddedkubectl.Run(t, s.Kubeconfig, args...)
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fakeWorkload stands in for the ReplicaSet controller of a real cluster: a pod that goes is
// replaced by one on the node that is not draining. The fake nodes stand in for the node agents.
type fakeWorkload struct {
	cs       kubernetes.Interface
	rs       *appsv1.ReplicaSet
	target   string
	mu       sync.Mutex
	replaced int
}

func (w *fakeWorkload) newPod(ctx context.Context, name, node string) error {
	ctrl := true
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: w.rs.Name, UID: w.rs.UID, Controller: &ctrl}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	_, err := w.cs.CoreV1().Pods("app").Create(ctx, p, metav1.CreateOptions{})
	return err
}

func (w *fakeWorkload) run(ctx context.Context, t *testing.T) {
	wi, err := w.cs.CoreV1().Pods("app").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	defer wi.Stop()
	for ev := range wi.ResultChan() {
		if _, ok := ev.Object.(*corev1.Pod); !ok || ev.Type != watch.Deleted {
			continue
		}
		w.mu.Lock()
		w.replaced++
		n := w.replaced
		w.mu.Unlock()
		if err := w.newPod(ctx, fmt.Sprintf("web-new-%d", n), w.target); err != nil && ctx.Err() == nil {
			t.Errorf("replacement: %v", err)
		}
	}
}

func TestDrainHonoursBudget(t *testing.T) {
	s := testserver.Start(t)
	cs := s.Client
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A pod being deleted takes a moment to shut down, so that the budget really is short meanwhile.
	if _, err := fakenodes.Start(ctx, cs, fakenodes.Options{Nodes: []string{"node-1", "node-2"}, Namespaces: []string{"app"},
		Terminating: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	rs, err := cs.AppsV1().ReplicaSets("app").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.ReplicaSetSpec{Replicas: &three, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := &fakeWorkload{cs: cs, rs: rs, target: "node-2"}
	for i := 0; i < 3; i++ {
		if err := w.newPod(ctx, fmt.Sprintf("web-%d", i), "node-1"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "three Ready pods", func() bool {
		pods, err := cs.CoreV1().Pods("app").List(ctx, metav1.ListOptions{})
		ready := 0
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return err == nil && ready == 3
	})
	one := intstr.FromInt32(1)
	if _, err := cs.PolicyV1().PodDisruptionBudgets("app").Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	f := informers.NewSharedInformerFactory(cs, 0)
	c, err := disruption.New(disruption.Config{Client: cs, Informers: f,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	f.Start(ctx.Done())
	go func() { c.Run(ctx, 2); close(done) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })

	var pdb *policyv1.PodDisruptionBudget
	eventually(t, 10*time.Second, "budget status", func() bool {
		pdb, _ = cs.PolicyV1().PodDisruptionBudgets("app").Get(ctx, "web", metav1.GetOptions{})
		return pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.ExpectedPods == 3
	})
	st := pdb.Status
	cond := meta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
	if st.CurrentHealthy != 3 || st.DesiredHealthy != 2 || st.DisruptionsAllowed != 1 || cond == nil || cond.Reason != policyv1.SufficientPodsReason {
		t.Fatalf("status %+v", st)
	}
	out, _ := kubectl(t, s, "get", "pdb", "-n", "app")
	if !strings.Contains(out, "ALLOWED DISRUPTIONS") || !strings.Contains(strings.Fields(strings.Split(out, "\n")[1])[3], "1") {
		t.Errorf("kubectl get pdb:\n%s", out)
	}

	go w.run(ctx, t)
	start := time.Now()
	out, errOut := kubectl(t, s, "drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=90s")
	t.Logf("drain took %s\n%s%s", time.Since(start).Round(time.Millisecond), out, errOut)
	if !strings.Contains(out, "node/node-1 drained") || !strings.Contains(out, "node/node-1 cordoned") {
		t.Errorf("drain output:\n%s", out)
	}
	if !strings.Contains(errOut, "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Errorf("drain never met the budget (no 429):\n%s", errOut)
	}
	pods, _ := cs.CoreV1().Pods("app").List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		if p.Spec.NodeName == "node-1" {
			t.Errorf("pod %s still on node-1", p.Name)
		}
	}
	if len(pods.Items) != 3 {
		t.Errorf("%d pods after the drain, want 3", len(pods.Items))
	}
	n, _ := cs.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
	if !n.Spec.Unschedulable {
		t.Error("node-1 not cordoned")
	}
	eventually(t, 10*time.Second, "budget back to 1 allowed", func() bool {
		pdb, _ = cs.PolicyV1().PodDisruptionBudgets("app").Get(ctx, "web", metav1.GetOptions{})
		return pdb.Status.CurrentHealthy == 3 && pdb.Status.DisruptionsAllowed == 1 && len(pdb.Status.DisruptedPods) == 0
	})
}
