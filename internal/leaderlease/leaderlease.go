package leaderlease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Config names the Lease and the candidate.
type Config struct {
	Namespace, Name string
	// Identity defaults to <hostname>_<random>, as upstream.
	Identity string
	Logger   *slog.Logger
	// LeaseDuration, RenewDeadline and RetryPeriod default to 15 s, 10 s and 2 s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Run calls run with a context that ends when leadership is lost or ctx ends, once this candidate
// holds the Lease. It returns when ctx ends, or with an error when leadership was lost while ctx
// was still live (the caller should exit, as upstream components do, rather than run twice).
func Run(ctx context.Context, client kubernetes.Interface, cfg Config, run func(ctx context.Context)) error {
	if cfg.Namespace == "" || cfg.Name == "" {
		return errors.New("leaderlease: namespace and name are required")
	}
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		cfg.Identity = host + "_" + string(uuid.NewUUID())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 15 * time.Second
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = 10 * time.Second
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = 2 * time.Second
	}
	log := cfg.Logger.With("lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	lost := make(chan struct{})
	done := make(chan struct{})
	var started atomic.Bool
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   cfg.LeaseDuration,
		RenewDeadline:   cfg.RenewDeadline,
		RetryPeriod:     cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            cfg.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				defer close(done)
				started.Store(true)
				log.Info("became leader")
				run(lctx)
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					close(lost)
				}
			},
			OnNewLeader: func(id string) {
				if id != cfg.Identity {
					log.Info("following leader", "leader", id)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leaderlease: %w", err)
	}
	le.Run(ctx)
	// le.Run returns once the Lease is released; the work it started may still be ending.
	if started.Load() {
		<-done
	}
	select {
	case <-lost:
		return fmt.Errorf("leaderlease: lost the lease %s/%s", cfg.Namespace, cfg.Name)
	default:
		return nil
	}
}
