package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/controllermanager"
	"github.com/skiff-dev/skiff/internal/informershare"
)

// ControllerManagerUser is the controller manager's identity, as upstream's.
const ControllerManagerUser = "system:kube-controller-manager"

// runControllerManager runs the controller manager in-process as a client of the API server
// with an identity of its own (calling api in-process; every client the controllers build copies
// rc, its transport included), reading pods through sharedPods when set, under leader election so that several servers on one etcd run one
// set of controllers between them.
func runControllerManager(ctx context.Context, cfg *Config, api http.Handler, sharedPods *informershare.Shared) error {
	rc := inProcessConfig(api, cfg.Logger, ControllerManagerUser, nil, "skiff-controller-manager", 500, 1000)
	for {
		err := controllermanager.Run(ctx, controllermanager.Config{
			RESTConfig: rc, Controllers: cfg.Controllers, Workers: cfg.ControllerWorkers, NodeIPAM: cfg.NodeIPAM,
			LeaderElect: true, Logger: cfg.Logger, OnStarted: cfg.OnControllersStarted, SharedPods: sharedPods,
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
// the controller manager's identity (it reads all pods; the scheduler reads the same), calling
// api in-process.
func sharedPodInformer(ctx context.Context, api http.Handler, log *slog.Logger) (*informershare.Shared, error) {
	client, err := kubernetes.NewForConfig(inProcessConfig(api, log, ControllerManagerUser, nil, "skiff-controller-manager/shared-pods", 0, 0))
	if err != nil {
		return nil, err
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(informershare.DropManagedFields))
	return informershare.New(ctx, f.Core().V1().Pods().Informer()), nil
}
