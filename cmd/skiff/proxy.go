package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/proxy"
)

func newProxyCommand() *cobra.Command {
	var cfg proxy.Config
	var kubeconfig, logLevel string
	var cleanup bool
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run a node's service proxy on its own: Services and NodePorts in nftables",
		Long: "Programs the node's nftables table for Services, NodePorts, hostPorts and pod masquerading. " +
			"The rules stay when it stops; --cleanup removes them and exits. The node agent runs the same proxy " +
			"unless started with --disable-proxy.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.NodeName == "" {
				h, err := os.Hostname()
				if err != nil {
					return err
				}
				cfg.NodeName = strings.ToLower(h)
			}
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			if cleanup {
				return proxy.Cleanup(cfg)
			}
			if kubeconfig == "" {
				return fmt.Errorf("--kubeconfig is required")
			}
			rc, err := componentConfig(kubeconfig)
			if err != nil {
				return err
			}
			rc.QPS, rc.Burst = 50, 100
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			p, err := proxy.New(client, cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return p.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with the proxy's credentials")
	f.StringVar(&cfg.NodeName, "hostname-override", "", "the node's name (default: the hostname)")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.96.0.0/12", "the Service ClusterIP range")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "the pods' range across nodes: pod traffic leaving it is masqueraded")
	f.StringVar(&cfg.Table, "table", "", "nftables table (default derived from the node name)")
	f.BoolVar(&cleanup, "cleanup", false, "remove the node's table and exit")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}
