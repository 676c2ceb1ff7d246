package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/leaderlease"
	"github.com/skiff-dev/skiff/internal/scheduler"
)

func newSchedulerCommand() *cobra.Command {
	var cfg scheduler.Config
	var kubeconfig, logLevel, leaseNamespace, leaseName string
	var leaderElect bool
	var qps float32
	var burst int
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run the scheduler: put each pending pod on a node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				return fmt.Errorf("--kubeconfig is required")
			}
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			rc, err := componentConfig(kubeconfig)
			if err != nil {
				return err
			}
			rc.QPS, rc.Burst, rc.UserAgent = qps, burst, "skiff-scheduler"
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			s, err := scheduler.New(client, cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			if !leaderElect {
				return s.Run(ctx)
			}
			var runErr error
			err = leaderlease.Run(ctx, client, leaderlease.Config{Namespace: leaseNamespace, Name: leaseName, Logger: cfg.Logger},
				func(ctx context.Context) { runErr = s.Run(ctx) })
			if err != nil {
				return err
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with the scheduler's credentials")
	f.BoolVar(&leaderElect, "leader-elect", false, "run only while holding the Lease, so several schedulers can stand by")
	f.StringVar(&leaseNamespace, "leader-elect-resource-namespace", "kube-system", "namespace of the leader election Lease")
	f.StringVar(&leaseName, "leader-elect-resource-name", "kube-scheduler", "name of the leader election Lease")
	f.StringVar(&cfg.SchedulerName, "scheduler-name", scheduler.DefaultSchedulerName, "schedulerName of the pods to schedule")
	f.IntVar(&cfg.PercentageOfNodesToScore, "percentage-of-nodes-to-score", 0, "share of nodes to find feasible before scoring (0: adaptive, as upstream)")
	f.DurationVar(&cfg.VolumeBindTimeout, "volume-bind-timeout", 0, "how long a pod waits for its WaitForFirstConsumer claims to be bound before it is scheduled again (0: 600s, as upstream)")
	f.Float32Var(&qps, "kube-api-qps", 5000, "API requests per second")
	f.IntVar(&burst, "kube-api-burst", 5000, "API request burst")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}
