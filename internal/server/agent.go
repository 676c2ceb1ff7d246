package server

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/kubelet"
	"github.com/skiff-dev/skiff/internal/pki"
)

// DefaultAgentPodCIDR is the in-process agent's pod CIDR when no node IPAM controller runs.
const DefaultAgentPodCIDR = "10.244.0.0/24"

// NodeGroup is the group every node agent's identity belongs to.
const NodeGroup = "system:nodes"

// newAgent builds the in-process node agent: it talks to the API server through client-go like
// any other node, with a node's identity (system:node:<name> in system:nodes), calling api
// in-process. Its own HTTPS API (logs, exec, port-forward for the API server) gets a serving
// certificate issued by the cluster CA.
func newAgent(cfg *Config, bundle *pki.Bundle, api http.Handler, advertise net.IP) (*kubelet.Kubelet, error) {
	ac := cfg.Agent
	if ac.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, err
		}
		ac.NodeName = strings.ToLower(h)
	}
	if ac.NodeIP == nil {
		ac.NodeIP = advertise
	}
	if ac.DataDir == "" {
		ac.DataDir = filepath.Join(cfg.DataDir, "agent")
	}
	if ac.PodCIDR == "" && !allocatesPodCIDRs(cfg) {
		// Nobody would give the Node a pod CIDR: the agent would wait for ever.
		ac.PodCIDR = DefaultAgentPodCIDR
	}
	if ac.Logger == nil {
		ac.Logger = cfg.Logger
	}
	if err := os.MkdirAll(ac.DataDir, 0o700); err != nil {
		return nil, err
	}
	if ac.ServingCert == nil {
		// The node agent's API: the API server verifies it against the cluster CA when it
		// proxies logs, exec and port-forward.
		hostname, _ := os.Hostname()
		serving, err := bundle.CA.Issue(pki.CertSpec{CommonName: "system:node:" + ac.NodeName,
			Organizations: []string{NodeGroup}, Usage: pki.ServerAuth,
			DNSNames: []string{ac.NodeName, strings.ToLower(hostname), "localhost"},
			IPs:      []net.IP{ac.NodeIP, net.ParseIP("127.0.0.1")}})
		if err != nil {
			return nil, err
		}
		cert, err := serving.TLSCertificate()
		if err != nil {
			return nil, err
		}
		ac.ServingCert = &cert
	}
	if ac.ClientCA == nil {
		ac.ClientCA = bundle.CAPool
	}
	rc := inProcessConfig(api, cfg.Logger, "system:node:"+ac.NodeName, []string{NodeGroup}, "skiff-kubelet/"+ac.NodeName, 50, 100)
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return kubelet.New(client, ac)
}

// runAgent runs the agent until ctx ends; a failure is logged, not fatal: the control plane
// stays useful without its node (for example when not run as root).
func runAgent(ctx context.Context, cfg *Config, k *kubelet.Kubelet) {
	if err := k.Run(ctx); err != nil && ctx.Err() == nil {
		cfg.Logger.Error("node agent stopped", "err", err)
	}
}
