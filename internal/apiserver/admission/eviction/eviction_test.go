package eviction

import (
	"context"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-dev/skiff/internal/apiserver/admission/admissiontest"
)

func pod(phase corev1.PodPhase, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
}

func pdb(name string, allowed int32, mutate ...func(*policyv1.PodDisruptionBudget)) *policyv1.PodDisruptionBudget {
	p := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: 1},
		Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: allowed, DesiredHealthy: 2, CurrentHealthy: 2 + allowed}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestEvict(t *testing.T) {
	cases := []struct {
		name        string
		objs        []runtime.Object
		dryRun      bool
		code        int32
		cause       string
		wantAllowed int32 // the budget "b" afterwards, when it exists
		recorded    bool
	}{
		{name: "no budget", objs: []runtime.Object{pod(corev1.PodRunning, true)}},
		{name: "budget allows", objs: []runtime.Object{pod(corev1.PodRunning, true), pdb("b", 1)}, wantAllowed: 0, recorded: true},
		{name: "dry run takes nothing", dryRun: true, objs: []runtime.Object{pod(corev1.PodRunning, true), pdb("b", 1)}, wantAllowed: 1},
		{name: "budget exhausted", objs: []runtime.Object{pod(corev1.PodRunning, true), pdb("b", 0)},
			code: http.StatusTooManyRequests, cause: "The disruption budget b needs 2 healthy pods and has 2 currently"},
		{name: "dry run still refused", dryRun: true, objs: []runtime.Object{pod(corev1.PodRunning, true), pdb("b", 0)}, code: http.StatusTooManyRequests,
			cause: "The disruption budget b needs 2 healthy pods and has 2 currently"},
		{name: "status not observed", objs: []runtime.Object{pod(corev1.PodRunning, true), pdb("b", 1, func(p *policyv1.PodDisruptionBudget) { p.Status.ObservedGeneration = 0 })},
			code: http.StatusTooManyRequests, cause: "The disruption budget b is still being processed by the server.", wantAllowed: 1},
		{name: "other selector", objs: []runtime.Object{pod(corev1.PodRunning, true), pdb("b", 0, func(p *policyv1.PodDisruptionBudget) {
			p.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
		})}},
		{name: "empty selector matches nothing", objs: []runtime.Object{pod(corev1.PodRunning, true), pdb("b", 0, func(p *policyv1.PodDisruptionBudget) {
			p.Spec.Selector = &metav1.LabelSelector{}
		})}},
		{name: "two budgets", objs: []runtime.Object{pod(corev1.PodRunning, true), pdb("b", 1), pdb("c", 1)}, code: http.StatusInternalServerError, wantAllowed: 1},
		{name: "pending pod", objs: []runtime.Object{pod(corev1.PodPending, false), pdb("b", 0)}},
		{name: "finished pod", objs: []runtime.Object{pod(corev1.PodSucceeded, false), pdb("b", 0)}},
		{name: "unready pod, budget met", objs: []runtime.Object{pod(corev1.PodRunning, false), pdb("b", 0, func(p *policyv1.PodDisruptionBudget) { p.Status.CurrentHealthy = 2 })}},
		{name: "unready pod, budget not met", objs: []runtime.Object{pod(corev1.PodRunning, false), pdb("b", 0, func(p *policyv1.PodDisruptionBudget) { p.Status.CurrentHealthy = 1 })},
			code: http.StatusTooManyRequests, cause: "The disruption budget b needs 2 healthy pods and has 1 currently"},
		{name: "unready pod, AlwaysAllow", objs: []runtime.Object{pod(corev1.PodRunning, false), pdb("b", 0, func(p *policyv1.PodDisruptionBudget) {
			p.Status.CurrentHealthy = 1
			pol := policyv1.AlwaysAllow
			p.Spec.UnhealthyPodEvictionPolicy = &pol
		})}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := admissiontest.New(tc.objs...)
			e := New(l)
			now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			e.now = func() time.Time { return now }
			err := e.Evict(context.Background(), "ns", "p", tc.dryRun)
			if tc.code == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.code != 0 {
				se, ok := err.(*apierrors.StatusError)
				if !ok || se.ErrStatus.Code != tc.code {
					t.Fatalf("got %v, want code %d", err, tc.code)
				}
				if tc.code == http.StatusTooManyRequests {
					if se.ErrStatus.Message != "Cannot evict pod as it would violate the pod's disruption budget." {
						t.Fatalf("message %q", se.ErrStatus.Message)
					}
					if c := se.ErrStatus.Details.Causes; len(c) != 1 || c[0].Type != policyv1.DisruptionBudgetCause || c[0].Message != tc.cause {
						t.Fatalf("causes %+v, want %q", c, tc.cause)
					}
				}
			}
			b, _ := l.Object(pdbsGVR, "ns", "b").(*policyv1.PodDisruptionBudget)
			if b == nil {
				return
			}
			if b.Status.DisruptionsAllowed != tc.wantAllowed && tc.code != http.StatusTooManyRequests {
				t.Fatalf("disruptionsAllowed = %d, want %d", b.Status.DisruptionsAllowed, tc.wantAllowed)
			}
			if _, ok := b.Status.DisruptedPods["p"]; ok != tc.recorded {
				t.Fatalf("disruptedPods = %v, want recorded=%v", b.Status.DisruptedPods, tc.recorded)
			}
			if tc.recorded && (len(b.Status.Conditions) != 1 || b.Status.Conditions[0].Reason != policyv1.InsufficientPodsReason) {
				t.Fatalf("conditions %+v", b.Status.Conditions)
			}
		})
	}
}

func TestConcurrentEvictionRetries(t *testing.T) {
	l := admissiontest.New(pod(corev1.PodRunning, true), pdb("b", 2))
	l.Conflicts = 3
	if err := New(l).Evict(context.Background(), "ns", "p", false); err != nil {
		t.Fatal(err)
	}
	b := l.Object(pdbsGVR, "ns", "b").(*policyv1.PodDisruptionBudget)
	if b.Status.DisruptionsAllowed != 1 {
		t.Fatalf("disruptionsAllowed = %d, want 1 (taken once)", b.Status.DisruptionsAllowed)
	}
}

func TestMissingPod(t *testing.T) {
	err := New(admissiontest.New()).Evict(context.Background(), "ns", "p", false)
	if !apierrors.IsNotFound(err) {
		t.Fatalf("got %v, want NotFound", err)
	}
}
