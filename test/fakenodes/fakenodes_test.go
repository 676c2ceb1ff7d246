package fakenodes

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func testPod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "a", Image: "i"}, {Name: "b", Image: "i"}}}}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		phase     corev1.PodPhase
		ready     corev1.ConditionStatus
		exitCode  int32
		exited    bool
		readyCtrs bool
	}{
		{"running ready", running(testPod(), true), corev1.PodRunning, corev1.ConditionTrue, 0, false, true},
		{"running not ready", running(testPod(), false), corev1.PodRunning, corev1.ConditionFalse, 0, false, false},
		{"succeeded", exited(testPod(), 0), corev1.PodSucceeded, corev1.ConditionFalse, 0, true, false},
		{"failed", exited(testPod(), 3), corev1.PodFailed, corev1.ConditionFalse, 3, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.pod
			if p.Status.Phase != tc.phase || p.Status.StartTime == nil || p.Status.PodIP == "" {
				t.Errorf("phase %s start %v ip %q", p.Status.Phase, p.Status.StartTime, p.Status.PodIP)
			}
			var ready corev1.ConditionStatus
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady {
					ready = c.Status
				}
			}
			if ready != tc.ready || isReady(p) != (tc.ready == corev1.ConditionTrue) {
				t.Errorf("Ready %q, want %q", ready, tc.ready)
			}
			if len(p.Status.ContainerStatuses) != 2 {
				t.Fatalf("container statuses %+v", p.Status.ContainerStatuses)
			}
			for _, cs := range p.Status.ContainerStatuses {
				term := cs.State.Terminated
				if (term != nil) != tc.exited || (term != nil && term.ExitCode != tc.exitCode) || cs.Ready != tc.readyCtrs {
					t.Errorf("container %s: %+v", cs.Name, cs)
				}
			}
		})
	}
}

func TestPinned(t *testing.T) {
	term := func(key string, op corev1.NodeSelectorOperator, values ...string) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}}}}}
	}
	for _, tc := range []struct {
		name string
		aff  *corev1.Affinity
		want string
	}{
		{"none", nil, ""},
		{"one node", term("metadata.name", corev1.NodeSelectorOpIn, "n1"), "n1"},
		{"two nodes", term("metadata.name", corev1.NodeSelectorOpIn, "n1", "n2"), ""},
		{"not in", term("metadata.name", corev1.NodeSelectorOpNotIn, "n1"), ""},
		{"other field", term("metadata.namespace", corev1.NodeSelectorOpIn, "n1"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPod()
			p.Spec.Affinity = tc.aff
			if got := pinned(p); got != tc.want {
				t.Errorf("pinned = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRenewLease(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", UID: "node-uid"}})
	if err := renewLease(ctx, cs, "n"); err != nil {
		t.Fatal(err)
	}
	l, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "n", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *l.Spec.HolderIdentity != "n" || *l.Spec.LeaseDurationSeconds != 40 || len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != "node-uid" {
		t.Fatalf("lease %+v", l)
	}
	first := l.Spec.RenewTime.Time
	time.Sleep(2 * time.Millisecond)
	if err := renewLease(ctx, cs, "n"); err != nil {
		t.Fatal(err)
	}
	l, _ = cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "n", metav1.GetOptions{})
	if !l.Spec.RenewTime.After(first) {
		t.Errorf("renewTime %v not after %v", l.Spec.RenewTime, first)
	}
	// No Node, no new Lease: a deleted node's agent has nothing to renew.
	if err := renewLease(ctx, cs, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "gone", metav1.GetOptions{}); err == nil {
		t.Error("a Lease for a node that does not exist")
	}
}
