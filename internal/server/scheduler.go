package server

import (
	"context"
	"net/http"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/leaderlease"
	"github.com/skiff-dev/skiff/internal/scheduler"
)

// SchedulerUser is the in-process scheduler's identity, upstream's.
const SchedulerUser = "system:kube-scheduler"

// Scheduler client limits: upstream's defaults (50/100) would cap binding at 50 pods/s; binding
// and its event are two writes per pod.
const schedulerQPS, schedulerBurst = 5000, 5000

// runScheduler runs the scheduler until ctx ends, as an API client with an identity of its own
// (calling api in-process), under the kube-system/kube-scheduler Lease so that several servers
// sharing one etcd run one scheduler between them.
func runScheduler(ctx context.Context, cfg *Config, api http.Handler) {
	log := cfg.Logger
	rc := inProcessConfig(api, log, SchedulerUser, nil, "skiff-scheduler", schedulerQPS, schedulerBurst)
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		log.Error("scheduler not started", "err", err)
		return
	}
	sc := cfg.Scheduler
	if sc.Logger == nil {
		sc.Logger = log
	}
	s, err := scheduler.New(client, sc)
	if err != nil {
		log.Error("scheduler not started", "err", err)
		return
	}
	for ctx.Err() == nil {
		err := leaderlease.Run(ctx, client, leaderlease.Config{Namespace: "kube-system", Name: "kube-scheduler", Logger: log},
			func(ctx context.Context) {
				if err := s.Run(ctx); err != nil {
					log.Error("scheduler stopped", "err", err)
				}
			})
		if err == nil || ctx.Err() != nil {
			return
		}
		// Lost the lease while still running: stand by again with a fresh scheduler, since the
		// old one's caches stopped with its informers.
		log.Warn("scheduler lost leadership", "err", err)
		if s, err = scheduler.New(client, sc); err != nil {
			log.Error("scheduler not restarted", "err", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
