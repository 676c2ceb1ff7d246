package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/dns"
)

func newDNSCommand() *cobra.Command {
	var cfg dns.Config
	var kubeconfig, logLevel string
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Run the cluster DNS: *.svc.<cluster domain> from the API, other names forwarded upstream",
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
			rc.UserAgent = "skiff-dns"
			if cfg.Client, err = kubernetes.NewForConfig(rc); err != nil {
				return err
			}
			s, err := dns.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return s.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with the DNS server's credentials")
	f.StringVar(&cfg.Listen, "listen", ":53", "address to serve DNS on, UDP and TCP")
	f.StringSliceVar(&cfg.Upstreams, "dns-upstream", nil, "resolvers (IP or IP:port) to forward other names to (default: the host's resolv.conf nameservers)")
	f.StringVar(&cfg.ResolvConf, "resolv-conf", "", "resolver file the default upstreams come from")
	f.StringVar(&cfg.Domain, "cluster-domain", dns.DefaultDomain, "the cluster's DNS domain")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}
