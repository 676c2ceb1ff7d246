package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/gcpacer"
	"github.com/skiff-dev/skiff/internal/server"
)

func newServerCommand() *cobra.Command {
	var cfg server.Config
	var advertise string
	var logLevel string
	var reg registryFlags
	var disableProxy bool
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a one-node cluster: the control plane on embedded etcd (or --etcd-servers)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mirrors, err := reg.mirrorMap()
			if err != nil {
				return err
			}
			cfg.Agent.RegistryMirrors, cfg.Agent.InsecureRegistries = mirrors, reg.insecure
			if !disableProxy {
				cfg.Agent.ServiceCIDR = cfg.ServiceClusterIPRange
			}
			// One --cluster-cidr: node IPAM cuts the Nodes' pod CIDRs from it, and the agent's
			// proxy masquerades pod traffic leaving it.
			cfg.Agent.ClusterCIDR = cfg.NodeIPAM.ClusterCIDR
			if advertise != "" {
				cfg.AdvertiseAddress = net.ParseIP(advertise)
				if cfg.AdvertiseAddress == nil {
					return fmt.Errorf("--advertise-address %q is not an IP address", advertise)
				}
			}
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			// GC at 3x the live heap (create throughput +50% against 2x on the 2-core reference
			// machine), within a soft limit of max(448 MiB, 2x live) (docs/benchmarks.md).
			go gcpacer.Run(ctx, gcpacer.Options{})
			return server.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/skiff", "directory for etcd data, certificates and kubeconfigs")
	f.StringVar(&cfg.BindAddress, "bind-address", "0.0.0.0", "address the API server listens on")
	f.IntVar(&cfg.SecurePort, "secure-port", 6443, "port the API server listens on (TLS)")
	f.StringVar(&advertise, "advertise-address", "", "address other hosts reach this API server at (default: the first host address)")
	f.StringSliceVar(&cfg.EtcdServers, "etcd-servers", nil, "external etcd endpoints (URLs); default: embedded etcd")
	f.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA bundle to verify external etcd servers")
	f.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate for external etcd")
	f.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "client key for external etcd")
	f.StringVar(&cfg.ServiceClusterIPRange, "service-cluster-ip-range", "10.96.0.0/12", "CIDR from which Service ClusterIPs are allocated")
	f.StringVar(&cfg.ServiceNodePortRange, "service-node-port-range", "30000-32767", "port range for NodePort Services")
	f.DurationVar(&cfg.EventTTL, "event-ttl", 0, "how long events are kept (default 1h)")
	f.BoolVar(&cfg.Profiling, "profiling", true, "serve Go profiles at /debug/pprof/ (authenticated)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", false, "do not run a node agent in this process")
	f.BoolVar(&cfg.DisableScheduler, "disable-scheduler", false, "do not run the scheduler in this process")
	f.BoolVar(&cfg.DisableControllerManager, "disable-controller-manager", false, "do not run the controllers in this process")
	f.StringSliceVar(&cfg.Controllers, "controllers", []string{"*"}, controllersHelp())
	f.StringToIntVar(&cfg.ControllerWorkers, "concurrent-syncs", nil, "workers per controller, e.g. replicaset=10,deployment=5")
	f.BoolVar(&cfg.DisableClusterDNS, "disable-cluster-dns", false, "do not run the cluster DNS in this process")
	f.StringVar(&cfg.ClusterDNSListen, "cluster-dns-listen", "", "address the cluster DNS listens on, UDP and TCP (default <advertise-address>:53); the kube-dns Service's endpoints point there")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	f.StringSliceVar(&cfg.DNSUpstreams, "dns-upstream", nil, "resolvers (IP or IP:port) the cluster DNS forwards other names to (default: the host's resolv.conf nameservers)")
	f.DurationVar(&cfg.NodeMonitorGracePeriod, "node-monitor-grace-period", 0, "how long a node may go without a heartbeat before the node lifecycle controller marks it Unknown and taints it (default 40s)")
	f.DurationVar(&cfg.NodeMonitorPeriod, "node-monitor-period", 0, "how often the node lifecycle controller checks node heartbeats (default 5s)")
	reg.add(f)
	f.StringVar(&cfg.Agent.NodeName, "node-name", "", "the in-process node agent's node name (default: the hostname)")
	f.StringVar(&cfg.Agent.PodCIDR, "pod-cidr", "", "the in-process node agent's pod CIDR (default: allocated from --cluster-cidr, or 10.244.0.0/24 without node IPAM)")
	f.StringVar(&cfg.Agent.Overlay, "overlay", "auto", "the in-process node agent's VXLAN overlay: auto (on when the node IP is on a network interface), vxlan, none")
	f.IntVar(&cfg.Agent.VXLANPort, "vxlan-port", 8472, "UDP port of the VXLAN overlay")
	nodeIPAMFlags(f, &cfg.NodeIPAM)
	f.StringVar(&cfg.Agent.CgroupRoot, "cgroup-root", "", "cgroup below which the node agent puts pods (default: /skiff-<node name>)")
	f.BoolVar(&disableProxy, "disable-proxy", false, "do not run the service proxy in the in-process node agent")
	f.StringVar(&cfg.Agent.PodManifestPath, "pod-manifest-path", "", "directory of pod manifests the in-process node agent runs as static pods")
	return cmd
}
