package server

import (
	"context"
	"fmt"
	"log/slog"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/apiserver"
	"github.com/skiff-dev/skiff/internal/apiserver/allocator"
)

// serviceRanges are the parsed --service-cluster-ip-range and --service-node-port-range.
type serviceRanges struct {
	cidr  allocator.IPRange
	ports allocator.PortRange
}

func parseServiceRanges(cfg Config) (serviceRanges, error) {
	cidr, err := allocator.ParseServiceCIDR(cfg.ServiceClusterIPRange)
	if err != nil {
		return serviceRanges{}, fmt.Errorf("--service-cluster-ip-range: %w", err)
	}
	ports, err := allocator.ParsePortRange(cfg.ServiceNodePortRange)
	if err != nil {
		return serviceRanges{}, fmt.Errorf("--service-node-port-range: %w", err)
	}
	return serviceRanges{cidr: cidr, ports: ports}, nil
}

// newServiceAllocator builds the Service cluster IP and node port allocator. It lists Services
// through the API server's in-process lookup, which exists only once the server is built: api
// returns it then.
func newServiceAllocator(client *clientv3.Client, r serviceRanges, api func() *apiserver.Server, log *slog.Logger) (*allocator.Services, error) {
	return allocator.New(allocator.Config{
		Client: client, ServiceCIDR: r.cidr, NodePorts: r.ports, Logger: log,
		ListServices: func(ctx context.Context) ([]*corev1.Service, error) {
			objs, err := api().Lookup().List(ctx, corev1.SchemeGroupVersion.WithResource("services"), "")
			if err != nil {
				return nil, err
			}
			out := make([]*corev1.Service, 0, len(objs))
			for _, o := range objs {
				svc, ok := o.(*corev1.Service)
				if !ok {
					return nil, fmt.Errorf("listing services: got %T", o)
				}
				out = append(out, svc)
			}
			return out, nil
		},
	})
}
