package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/kubelet"
)

func newKubeletCommand() *cobra.Command {
	var cfg kubelet.Config
	var kubeconfig, nodeIP, logLevel string
	var tlsCert, tlsKey, clientCA string
	var reg registryFlags
	var disableProxy bool
	var leaseSeconds int32
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
			if leaseSeconds < 1 {
				return fmt.Errorf("--node-lease-duration-seconds must be at least 1, got %d", leaseSeconds)
			}
			cfg.NodeLeaseDuration = time.Duration(leaseSeconds) * time.Second
			if nodeIP != "" {
				if cfg.NodeIP = net.ParseIP(nodeIP); cfg.NodeIP == nil {
					return fmt.Errorf("--node-ip %q is not an IP address", nodeIP)
				}
			}
			if disableProxy {
				cfg.ServiceCIDR = ""
			}
			if cfg.NodeName == "" {
				h, err := os.Hostname()
				if err != nil {
					return err
				}
				cfg.NodeName = strings.ToLower(h)
			}
			if err := apiTLS(&cfg, tlsCert, tlsKey, clientCA); err != nil {
				return err
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
	f.StringVar(&cfg.PodCIDR, "pod-cidr", "", "the node's pod address range (default: the Node's spec.podCIDR, allocated by the controller manager)")
	f.StringVar(&cfg.Overlay, "overlay", "auto", "VXLAN overlay to the other nodes' pods: auto (on when --node-ip is on a network interface), vxlan, none")
	f.IntVar(&cfg.VXLANPort, "vxlan-port", 8472, "UDP port of the VXLAN overlay")
	f.StringVar(&cfg.BridgeName, "bridge-name", "", "the pod network's bridge (default derived from the node name)")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.96.0.0/12", "the Service ClusterIP range the node's service proxy programs")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "the pods' range across nodes: pod traffic leaving it is masqueraded")
	f.BoolVar(&disableProxy, "disable-proxy", false, "do not run the service proxy in the node agent (run `skiff proxy` instead, or none)")
	f.Int32Var(&cfg.KubeletPort, "port", 10250, "port of the node agent's API")
	f.StringVar(&tlsCert, "tls-cert-file", "", "serving certificate (PEM) of the node agent's API, which the API server proxies logs, exec and port-forward to; without it the API is off")
	f.StringVar(&tlsKey, "tls-private-key-file", "", "private key (PEM) of --tls-cert-file")
	f.StringVar(&clientCA, "client-ca-file", "", "CA bundle (PEM) that signs the API server's client certificate; required with --tls-cert-file")
	f.IPSliceVar(&cfg.ClusterDNS, "cluster-dns", nil, "cluster DNS addresses for pods with dnsPolicy ClusterFirst (the kube-dns Service IP, e.g. 10.96.0.10)")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain, searched by pods with dnsPolicy ClusterFirst")
	f.StringVar(&cfg.ResolvConf, "resolv-conf", "", "resolver file pods with dnsPolicy Default get (default: systemd's upstream file when present, else /etc/resolv.conf)")
	f.StringVar(&cfg.PodManifestPath, "pod-manifest-path", "", "directory of pod manifests to run as static pods (re-read every 20 s)")
	f.Int32Var(&leaseSeconds, "node-lease-duration-seconds", 40, "leaseDurationSeconds of the node's heartbeat Lease, renewed every quarter of it (upstream nodeLeaseDurationSeconds)")
	reg.add(f)
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

// apiTLS turns the node agent's API on from the three files, which come together or not at all:
// an API without a client CA would have no way to tell the API server from anyone else.
func apiTLS(cfg *kubelet.Config, certFile, keyFile, caFile string) error {
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil
	}
	if certFile == "" || keyFile == "" || caFile == "" {
		return fmt.Errorf("--tls-cert-file, --tls-private-key-file and --client-ca-file go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("node agent API certificate: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("--client-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("--client-ca-file %s: no PEM certificate in it", caFile)
	}
	cfg.ServingCert, cfg.ClientCA = &cert, pool
	return nil
}
