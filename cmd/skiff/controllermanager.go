package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-dev/skiff/internal/controllermanager"
)

func controllersHelp() string {
	return "controllers to run: '*' runs all on by default, 'foo' enables foo, '-foo' disables foo; known: " +
		strings.Join(controllermanager.Names(), ", ")
}

func newControllerManagerCommand() *cobra.Command {
	var cfg controllermanager.Config
	var kubeconfig, logLevel string
	var qps float32
	var burst int
	cmd := &cobra.Command{
		Use:   "controller-manager",
		Short: "Run the controllers (ReplicaSet, Deployment, ...) against an API server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				return fmt.Errorf("--kubeconfig is required")
			}
			if _, err := controllermanager.Enabled(cfg.Controllers); err != nil {
				return fmt.Errorf("--controllers: %w", err)
			}
			if err := controllermanager.CheckNodeMonitor(cfg.NodeMonitorGracePeriod, cfg.NodeMonitorPeriod); err != nil {
				return fmt.Errorf("--node-monitor-grace-period, --node-monitor-period: %w", err)
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
			rc.QPS, rc.Burst = qps, burst
			rc.UserAgent = "skiff-controller-manager"
			cfg.RESTConfig = rc
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return controllermanager.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with the controller manager's credentials")
	f.StringSliceVar(&cfg.Controllers, "controllers", []string{"*"}, controllersHelp())
	f.StringToIntVar(&cfg.Workers, "concurrent-syncs", nil, "workers per controller, e.g. replicaset=10,deployment=5")
	f.DurationVar(&cfg.NodeMonitorGracePeriod, "node-monitor-grace-period", 0, "how long a node may go without a heartbeat before the node lifecycle controller marks it Unknown and taints it (default 40s)")
	f.DurationVar(&cfg.NodeMonitorPeriod, "node-monitor-period", 0, "how often the node lifecycle controller checks node heartbeats (default 5s)")
	f.BoolVar(&cfg.LeaderElect, "leader-elect", true, "run controllers only while holding the Lease kube-system/kube-controller-manager")
	f.StringVar(&cfg.LeaderElection.Identity, "leader-elect-identity", "", "this instance's name in the Lease (default: hostname_<uuid>)")
	f.DurationVar(&cfg.LeaderElection.LeaseDuration, "leader-elect-lease-duration", 0, "how long a Lease holds without renewal (default 15s)")
	f.DurationVar(&cfg.LeaderElection.RenewDeadline, "leader-elect-renew-deadline", 0, "how long the leader retries renewing before giving up (default 10s)")
	f.DurationVar(&cfg.LeaderElection.RetryPeriod, "leader-elect-retry-period", 0, "how often to try to acquire or renew (default 2s)")
	nodeIPAMFlags(f, &cfg.NodeIPAM)
	f.Float32Var(&qps, "kube-api-qps", 500, "client requests per second to the API server")
	f.IntVar(&burst, "kube-api-burst", 1000, "client request burst to the API server")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

// nodeIPAMFlags are the node IPAM controller's flags, shared by `server` and `controller-manager`.
func nodeIPAMFlags(f *pflag.FlagSet, c *controllermanager.NodeIPAM) {
	f.BoolVar(&c.AllocateNodeCIDRs, "allocate-node-cidrs", true, "give every Node a pod CIDR from --cluster-cidr (the nodeipam controller)")
	f.StringVar(&c.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "the pod network's range, from which Nodes' pod CIDRs are cut")
	f.IntVar(&c.NodeCIDRMaskSize, "node-cidr-mask-size", 24, "prefix length of each Node's pod CIDR")
}
