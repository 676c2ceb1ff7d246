package workloads

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/controllermanager"
	"github.com/skiff-dev/skiff/internal/testserver"
)

// Two standalone managers on one API server: one leads, the other waits, and when the leader
// stops the other takes over at once (the Lease is released, not left to expire).
func TestLeaderHandOver(t *testing.T) {
	s := testserver.Start(t) // no in-process controllers
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(id string) (context.CancelFunc, chan struct{}, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			done <- controllermanager.Run(ctx, controllermanager.Config{RESTConfig: s.Config, LeaderElect: true, Logger: log,
				LeaderElection: controllermanager.LeaderElection{Identity: id, LeaseDuration: 30 * time.Second,
					RenewDeadline: 20 * time.Second, RetryPeriod: 100 * time.Millisecond},
				OnStarted: func() { started <- struct{}{} }})
		}()
		t.Cleanup(cancel)
		return cancel, started, done
	}
	stopA, startedA, doneA := start("a")
	select {
	case <-startedA:
	case <-time.After(30 * time.Second):
		t.Fatal("first manager never led")
	}
	_, startedB, _ := start("b")
	select {
	case <-startedB:
		t.Fatal("second manager runs controllers while the first holds the Lease")
	case <-time.After(time.Second):
	}
	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("stopped leader returned %v", err)
	}
	handOver := time.Now()
	select {
	case <-startedB:
	case <-time.After(10 * time.Second):
		t.Fatal("second manager did not take over within 10 s of a 30 s lease: the Lease was not released")
	}
	l, err := s.Client.CoordinationV1().Leases("kube-system").Get(context.Background(), "kube-controller-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "b" {
		t.Fatalf("lease holder %v, want b", l.Spec.HolderIdentity)
	}
	t.Logf("hand-over took %v", time.Since(handOver))
}
