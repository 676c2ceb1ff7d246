package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/kubelet"
)

func newKubeletCommand() *cobra.Command {
	var cfg kubelet.Config
	var kubeconfig, nodeIP, logLevel string
	var reg registryFlags
	cmd := &cobra.Command{
		Use:   "kubelet",
		Short: "Run a node agent: the pods the API server binds to this node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				return fmt.Errorf("--kubeconfig is required")
			}
			mirrors, err := reg.mirrorMap()
			if err != nil {
				return err
			}
			cfg.RegistryMirrors, cfg.InsecureRegistries = mirrors, reg.insecure
			if nodeIP != "" {
				if cfg.NodeIP = net.ParseIP(nodeIP); cfg.NodeIP == nil {
					return fmt.Errorf("--node-ip %q is not an IP address", nodeIP)
				}
			}
			if cfg.NodeName == "" {
				h, err := os.Hostname()
				if err != nil {
					return err
				}
				cfg.NodeName = strings.ToLower(h)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			rc.QPS, rc.Burst = 50, 100
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			k, err := kubelet.New(client, cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return k.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with the node's credentials")
	f.StringVar(&cfg.NodeName, "node-name", "", "node name (default: the hostname)")
	f.StringVar(&nodeIP, "node-ip", "", "the node's address (default 127.0.0.1)")
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/skiff/agent", "directory for images, containers, volumes and logs")
	f.StringVar(&cfg.CgroupRoot, "cgroup-root", "", "cgroup below which pods live (default: /skiff-<node name>)")
	f.StringVar(&cfg.PodCIDR, "pod-cidr", "10.244.0.0/24", "the node's pod address range")
	f.StringVar(&cfg.BridgeName, "bridge-name", "", "the pod network's bridge (default derived from the node name)")
	f.Int32Var(&cfg.KubeletPort, "port", 10250, "port of the node agent's API")
	f.StringVar(&cfg.PodManifestPath, "pod-manifest-path", "", "directory of pod manifests to run as static pods (re-read every 20 s)")
	reg.add(f)
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}
