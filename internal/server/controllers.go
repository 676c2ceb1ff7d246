package server

import (
	"context"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/apiclient"
	"github.com/skiff-dev/skiff/internal/controllermanager"
	"github.com/skiff-dev/skiff/internal/informershare"
	"github.com/skiff-dev/skiff/internal/pki"
)

// ControllerManagerUser is the controller manager's identity, as upstream's.
const ControllerManagerUser = "system:kube-controller-manager"

// runControllerManager runs the controller manager in-process as a client of the API server
// with an identity of its own issued by the cluster CA, under leader election so that several
// servers on one etcd run one set of controllers between them.
func runControllerManager(ctx context.Context, cfg *Config, bundle *pki.Bundle, url string) error {
	kp, err := bundle.CA.Issue(pki.CertSpec{CommonName: ControllerManagerUser, Usage: pki.ClientAuth})
	if err != nil {
		return err
	}
	rc := apiclient.Protobuf(&rest.Config{Host: url, QPS: 500, Burst: 1000, UserAgent: "skiff-controller-manager",
		TLSClientConfig: rest.TLSClientConfig{CAData: bundle.CA.CertPEM, CertData: kp.CertPEM, KeyData: kp.KeyPEM}})
	for {
		err := controllermanager.Run(ctx, controllermanager.Config{
			RESTConfig: rc, Controllers: cfg.Controllers, Workers: cfg.ControllerWorkers, NodeIPAM: cfg.NodeIPAM,
			LeaderElect: true, Logger: cfg.Logger, OnStarted: cfg.OnControllersStarted, SharedPods: cfg.sharedPods,
			NodeMonitorGracePeriod: cfg.NodeMonitorGracePeriod, NodeMonitorPeriod: cfg.NodeMonitorPeriod,
		})
		if ctx.Err() != nil {
			return nil
		}
		// A lost Lease stops the controllers (another server leads now); a standalone manager
		// exits, but the server stays up and stands for election again.
		cfg.Logger.Warn("controller manager stopped, standing for election again", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// allocatesPodCIDRs says whether this server's controllers give Nodes their pod CIDRs.
func allocatesPodCIDRs(cfg *Config) bool {
	if cfg.DisableControllerManager || !cfg.NodeIPAM.AllocateNodeCIDRs {
		return false
	}
	enabled, err := controllermanager.Enabled(cfg.Controllers)
	if err != nil {
		return false
	}
	for _, d := range enabled {
		if d.Name == "nodeipam" {
			return true
		}
	}
	return false
}

// sharedPodInformer is the pod informer of the in-process scheduler and controller manager, with
// the controller manager's identity (it reads all pods; the scheduler reads the same).
func sharedPodInformer(ctx context.Context, bundle *pki.Bundle, url string) (*informershare.Shared, error) {
	kp, err := bundle.CA.Issue(pki.CertSpec{CommonName: ControllerManagerUser, Usage: pki.ClientAuth})
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(apiclient.Protobuf(&rest.Config{Host: url, UserAgent: "skiff-controller-manager/shared-pods",
		TLSClientConfig: rest.TLSClientConfig{CAData: bundle.CA.CertPEM, CertData: kp.CertPEM, KeyData: kp.KeyPEM}}))
	if err != nil {
		return nil, err
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(informershare.DropManagedFields))
	return informershare.New(ctx, f.Core().V1().Pods().Informer()), nil
}
