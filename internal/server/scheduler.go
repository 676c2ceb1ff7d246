package server

import (
	"context"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/apiclient"
	"github.com/skiff-dev/skiff/internal/leaderlease"
	"github.com/skiff-dev/skiff/internal/pki"
	"github.com/skiff-dev/skiff/internal/scheduler"
)

// SchedulerUser is the in-process scheduler's identity, upstream's.
const SchedulerUser = "system:kube-scheduler"

// Scheduler client limits: upstream's defaults (50/100) would cap binding at 50 pods/s; binding
// and its event are two writes per pod.
const schedulerQPS, schedulerBurst = 5000, 5000

// runScheduler runs the scheduler until ctx ends, as its own API client with a certificate of its
// own, under the kube-system/kube-scheduler Lease so that several servers sharing one etcd run
// one scheduler between them.
func runScheduler(ctx context.Context, cfg *Config, bundle *pki.Bundle, url string) {
	log := cfg.Logger
	kp, err := bundle.CA.Issue(pki.CertSpec{CommonName: SchedulerUser, Usage: pki.ClientAuth})
	if err != nil {
		log.Error("scheduler not started", "err", err)
		return
	}
	rc := apiclient.Protobuf(&rest.Config{Host: url, QPS: schedulerQPS, Burst: schedulerBurst, UserAgent: "skiff-scheduler",
		TLSClientConfig: rest.TLSClientConfig{CAData: bundle.CA.CertPEM, CertData: kp.CertPEM, KeyData: kp.KeyPEM}})
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
