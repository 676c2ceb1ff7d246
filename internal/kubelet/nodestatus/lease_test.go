package nodestatus

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clienttesting "k8s.io/client-go/testing"
)

var leaseGR = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}

func getLease(t *testing.T, a *testAgent) *coordinationv1.Lease {
	t.Helper()
	l, err := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func countVerbs(a *testAgent, resource string) map[string]int {
	out := map[string]int{}
	for _, act := range a.client.Actions() {
		if act.GetResource().Resource == resource {
			out[act.GetVerb()]++
		}
	}
	return out
}

func TestLeaseCreateAndRenew(t *testing.T) {
	node := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "uid-1"}}
	a := newTestAgent(t, nil, node)
	ctx := context.Background()
	if !a.lease.renew(ctx) {
		t.Fatal("renew gave up")
	}
	l := getLease(t, a)
	if *l.Spec.HolderIdentity != "n1" || *l.Spec.LeaseDurationSeconds != 40 || !l.Spec.RenewTime.Time.Equal(t0) {
		t.Errorf("lease spec = %+v", l.Spec)
	}
	want := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "uid-1"}}
	if len(l.OwnerReferences) != 1 || l.OwnerReferences[0] != want[0] {
		t.Errorf("owner references = %+v, want %+v", l.OwnerReferences, want)
	}

	a.client.ClearActions()
	a.clock.Step(10 * time.Second)
	if !a.lease.renew(ctx) {
		t.Fatal("renew gave up")
	}
	if l := getLease(t, a); !l.Spec.RenewTime.Time.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("renewTime = %v, want t0+10s", l.Spec.RenewTime)
	}
	if got := countVerbs(a, "leases"); got["update"] != 1 || got["get"] != 1 || got["create"] != 0 {
		// The one get is the test's own.
		t.Errorf("steady renewal made %v, want a single update", got)
	}
}

func TestLeaseOwnerAddedOnceNodeExists(t *testing.T) {
	a := newTestAgent(t, nil)
	ctx := context.Background()
	a.lease.renew(ctx)
	if l := getLease(t, a); len(l.OwnerReferences) != 0 {
		t.Fatalf("owner without a node: %+v", l.OwnerReferences)
	}
	if err := a.register(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.uid = "uid-late" // the fake clientset assigns no UIDs
	a.mu.Unlock()
	a.lease.renew(ctx)
	if l := getLease(t, a); len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != "uid-late" {
		t.Errorf("owner references = %+v", l.OwnerReferences)
	}
}

func TestLeaseConflictRereads(t *testing.T) {
	a := newTestAgent(t, nil)
	ctx := context.Background()
	a.lease.renew(ctx)
	var conflicts atomic.Int32
	a.client.PrependReactor("update", "leases", func(clienttesting.Action) (bool, runtime.Object, error) {
		if conflicts.Add(1) <= 2 {
			return true, nil, apierrors.NewConflict(leaseGR, "n1", nil)
		}
		return false, nil, nil
	})
	a.client.ClearActions()
	a.clock.Step(10 * time.Second)
	a.lease.renew(ctx)
	if l := getLease(t, a); !l.Spec.RenewTime.Time.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("renewTime = %v after conflicts", l.Spec.RenewTime)
	}
	got := countVerbs(a, "leases")
	// cached update (conflict), get, update (conflict), get, update (ok), plus the test's get.
	if got["update"] != 3 || got["get"] != 3 {
		t.Errorf("actions %v, want 3 updates and a re-read per conflict", got)
	}
}

// TestLeaseBackoff: while the API server fails, getting the Lease is retried at 200 ms, 400 ms,
// 800 ms, ... on the injected clock.
func TestLeaseBackoff(t *testing.T) {
	a := newTestAgent(t, nil)
	var gets atomic.Int32
	a.client.PrependReactor("get", "leases", func(clienttesting.Action) (bool, runtime.Object, error) {
		if gets.Add(1) <= 4 {
			return true, nil, apierrors.NewServiceUnavailable("etcd is down")
		}
		return false, nil, nil
	})
	done := make(chan bool)
	go func() { done <- a.lease.renew(context.Background()) }()
	waitFor(t, func() bool { return a.clock.HasWaiters() })
	for i, d := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond} {
		if g := gets.Load(); g != int32(i+1) {
			t.Fatalf("before backoff %d: %d gets", i, g)
		}
		a.clock.Step(d - time.Millisecond)
		time.Sleep(5 * time.Millisecond) // give a wrongly early retry the chance to show
		if g := gets.Load(); g != int32(i+1) {
			t.Fatalf("retried before %v", d)
		}
		a.clock.Step(time.Millisecond)
		waitFor(t, func() bool { return gets.Load() == int32(i+2) })
		if i < 3 {
			waitFor(t, func() bool { return a.clock.HasWaiters() })
		}
	}
	if !<-done {
		t.Fatal("renew gave up")
	}
	if l := getLease(t, a); l.Spec.RenewTime == nil {
		t.Error("lease not created after the API server came back")
	}
}

func TestLeaseStopsWithContext(t *testing.T) {
	a := newTestAgent(t, nil)
	a.client.PrependReactor("get", "leases", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("down")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- a.lease.renew(ctx) }()
	waitFor(t, func() bool { return a.clock.HasWaiters() })
	cancel()
	select {
	case ok := <-done:
		if ok {
			t.Error("renew reported success after its context ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("renew did not stop with its context")
	}
}

// waitFor polls a condition that another goroutine makes true; it bounds real time only so that a
// broken test fails instead of hanging.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
