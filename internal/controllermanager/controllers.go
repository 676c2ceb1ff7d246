package controllermanager

import (
	"k8s.io/client-go/metadata/metadatainformer"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/skiff-dev/skiff/internal/controller/cronjob"
	"github.com/skiff-dev/skiff/internal/controller/daemonset"
	"github.com/skiff-dev/skiff/internal/controller/deployment"
	"github.com/skiff-dev/skiff/internal/controller/disruption"
	"github.com/skiff-dev/skiff/internal/controller/endpoints"
	"github.com/skiff-dev/skiff/internal/controller/endpointslice"
	"github.com/skiff-dev/skiff/internal/controller/garbagecollector"
	"github.com/skiff-dev/skiff/internal/controller/job"
	"github.com/skiff-dev/skiff/internal/controller/namespace"
	"github.com/skiff-dev/skiff/internal/controller/nodeipam"
	"github.com/skiff-dev/skiff/internal/controller/nodelifecycle"
	"github.com/skiff-dev/skiff/internal/controller/persistentvolume"
	"github.com/skiff-dev/skiff/internal/controller/podgc"
	"github.com/skiff-dev/skiff/internal/controller/pvcprotection"
	"github.com/skiff-dev/skiff/internal/controller/pvprotection"
	"github.com/skiff-dev/skiff/internal/controller/replicaset"
	"github.com/skiff-dev/skiff/internal/controller/resourcequota"
	"github.com/skiff-dev/skiff/internal/controller/serviceaccount"
	"github.com/skiff-dev/skiff/internal/controller/statefulset"
	"github.com/skiff-dev/skiff/internal/controller/ttlafterfinished"
)

// Controllers is every controller the manager knows, in start order. Workers is the default
// worker count (upstream's --concurrent-*-syncs defaults).
var Controllers = []Descriptor{
	{Name: "replicaset", Workers: 5, New: newReplicaSet},
	{Name: "deployment", Workers: 5, New: newDeployment},
	{Name: "statefulset", Workers: 5, New: newStatefulSet},
	{Name: "daemonset", Workers: 2, New: newDaemonSet},
	{Name: "job", Workers: 5, New: newJob},
	{Name: "cronjob", Workers: 5, New: newCronJob},
	{Name: "ttl-after-finished", Workers: 5, New: newTTLAfterFinished},
	{Name: "garbagecollector", Workers: 20, New: newGarbageCollector},
	{Name: "namespace", Workers: 10, New: newNamespace},
	{Name: "serviceaccount", Workers: 1, New: newServiceAccount},
	{Name: "nodelifecycle", Workers: 1, New: newNodeLifecycle},
	{Name: "nodeipam", Workers: 1, New: newNodeIPAM},
	{Name: "podgc", Workers: 1, New: newPodGC},
	{Name: "resourcequota", Workers: 5, New: newResourceQuota},
	{Name: "disruption", Workers: 1, New: newDisruption},
	{Name: "endpoints", Workers: 5, New: newEndpoints},
	{Name: "endpointslice", Workers: 5, New: newEndpointSlice},
	{Name: "persistentvolume-binder", Workers: 1, New: newPersistentVolumeBinder},
	{Name: "pvc-protection", Workers: 1, New: newPVCProtection},
	{Name: "pv-protection", Workers: 1, New: newPVProtection},
}

func newReplicaSet(c *Context) (Runner, error) {
	client, err := c.Client("replicaset-controller")
	if err != nil {
		return nil, err
	}
	return replicaset.New(replicaset.Config{Client: client,
		ReplicaSets: c.Informers.Apps().V1().ReplicaSets(), Pods: c.Informers.Core().V1().Pods(),
		Recorder: c.Recorder("replicaset-controller"), Logger: c.Logger})
}

func newDeployment(c *Context) (Runner, error) {
	client, err := c.Client("deployment-controller")
	if err != nil {
		return nil, err
	}
	return deployment.New(deployment.Config{Client: client,
		Deployments: c.Informers.Apps().V1().Deployments(), ReplicaSets: c.Informers.Apps().V1().ReplicaSets(),
		Pods: c.Informers.Core().V1().Pods(), Recorder: c.Recorder("deployment-controller"), Logger: c.Logger})
}

func newEndpoints(c *Context) (Runner, error) {
	client, err := c.Client("endpoint-controller")
	if err != nil {
		return nil, err
	}
	return endpoints.New(endpoints.Config{Client: client, Informers: c.Informers,
		Recorder: c.Recorder("endpoint-controller"), Logger: c.Logger})
}

func newEndpointSlice(c *Context) (Runner, error) {
	client, err := c.Client("endpointslice-controller")
	if err != nil {
		return nil, err
	}
	return endpointslice.New(endpointslice.Config{Client: client, Informers: c.Informers,
		Recorder: c.Recorder("endpoint-slice-controller"), Logger: c.Logger})
}

// newGarbageCollector follows every resource through metadata-only informers of a factory of its
// own: no other controller needs them, and the collector starts the ones it adds.
func newGarbageCollector(c *Context) (Runner, error) {
	client, err := c.Client("generic-garbage-collector")
	if err != nil {
		return nil, err
	}
	md, err := c.MetadataClient("generic-garbage-collector")
	if err != nil {
		return nil, err
	}
	return garbagecollector.New(garbagecollector.Config{Metadata: md, Discovery: client.Discovery(),
		Informers: metadatainformer.NewSharedInformerFactory(md, 0),
		Recorder:  c.Recorder("garbage-collector-controller"), Logger: c.Logger})
}

func newNamespace(c *Context) (Runner, error) {
	client, err := c.Client("namespace-controller")
	if err != nil {
		return nil, err
	}
	md, err := c.MetadataClient("namespace-controller")
	if err != nil {
		return nil, err
	}
	return namespace.New(namespace.Config{Client: client, Metadata: md, Informers: c.Informers, Logger: c.Logger})
}

func newStatefulSet(c *Context) (Runner, error) {
	client, err := c.Client("statefulset-controller")
	if err != nil {
		return nil, err
	}
	return statefulset.New(statefulset.Config{Client: client, Informers: c.Informers,
		Recorder: c.Recorder("statefulset-controller"), Logger: c.Logger})
}

func newDaemonSet(c *Context) (Runner, error) {
	client, err := c.Client("daemonset-controller")
	if err != nil {
		return nil, err
	}
	return daemonset.New(daemonset.Config{Client: client, Informers: c.Informers,
		Recorder: c.Recorder("daemonset-controller"), Logger: c.Logger})
}

func newJob(c *Context) (Runner, error) {
	client, err := c.Client("job-controller")
	if err != nil {
		return nil, err
	}
	return job.New(job.Config{Client: client, Informers: c.Informers, Recorder: c.Recorder("job-controller"), Logger: c.Logger})
}

func newCronJob(c *Context) (Runner, error) {
	client, err := c.Client("cronjob-controller")
	if err != nil {
		return nil, err
	}
	return cronjob.New(cronjob.Config{Client: client, Informers: c.Informers, Recorder: c.Recorder("cronjob-controller"), Logger: c.Logger})
}

func newTTLAfterFinished(c *Context) (Runner, error) {
	client, err := c.Client("ttl-after-finished-controller")
	if err != nil {
		return nil, err
	}
	return ttlafterfinished.New(ttlafterfinished.Config{Client: client, Informers: c.Informers, Logger: c.Logger})
}

func newServiceAccount(c *Context) (Runner, error) {
	client, err := c.Client("service-account-controller")
	if err != nil {
		return nil, err
	}
	return serviceaccount.New(serviceaccount.Config{Client: client, Informers: c.Informers, Logger: c.Logger})
}

func newNodeLifecycle(c *Context) (Runner, error) {
	client, err := c.Client("node-lifecycle-controller")
	if err != nil {
		return nil, err
	}
	return nodelifecycle.New(nodelifecycle.Config{Client: client, Informers: c.Informers,
		Recorder: c.Recorder("node-controller"), Logger: c.Logger,
		GracePeriod: c.NodeMonitorGracePeriod, MonitorPeriod: c.NodeMonitorPeriod})
}

// newNodeIPAM is off unless NodeIPAM.AllocateNodeCIDRs: node agents then keep the pod CIDR
// they were started with.
func newNodeIPAM(c *Context) (Runner, error) {
	if !c.NodeIPAM.AllocateNodeCIDRs {
		return nil, ErrDisabled
	}
	client, err := c.Client("node-ipam-controller")
	if err != nil {
		return nil, err
	}
	return nodeipam.New(nodeipam.Config{Client: client, Informers: c.Informers,
		ClusterCIDR: c.NodeIPAM.ClusterCIDR, NodeCIDRMaskSize: c.NodeIPAM.NodeCIDRMaskSize,
		Recorder: c.Recorder("node-ipam-controller"), Logger: c.Logger})
}

func newPodGC(c *Context) (Runner, error) {
	client, err := c.Client("pod-garbage-collector")
	if err != nil {
		return nil, err
	}
	return podgc.New(podgc.Config{Client: client, Informers: c.Informers, Logger: c.Logger})
}

// newResourceQuota counts every `count/<resource>.<group>` a quota names: typed kinds itself,
// the rest through the metadata client and the discovery mapper.
func newResourceQuota(c *Context) (Runner, error) {
	client, err := c.Client("resourcequota-controller")
	if err != nil {
		return nil, err
	}
	md, err := c.MetadataClient("resourcequota-controller")
	if err != nil {
		return nil, err
	}
	return resourcequota.New(resourcequota.Config{Client: client, Informers: c.Informers, Metadata: md,
		Mapper: discoveryMapper(client), Logger: c.Logger})
}

// newDisruption reads the scale of any pod controller (beyond the built-in workload kinds)
// through the scale subresource.
func newDisruption(c *Context) (Runner, error) {
	client, err := c.Client("disruption-controller")
	if err != nil {
		return nil, err
	}
	mapper := discoveryMapper(client)
	scales, err := c.Scales("disruption-controller", mapper, client.Discovery())
	if err != nil {
		return nil, err
	}
	return disruption.New(disruption.Config{Client: client, Informers: c.Informers, Scales: scales, Mapper: mapper,
		Recorder: c.Recorder("controllermanager"), Logger: c.Logger})
}

// discoveryMapper maps kinds to resources from discovery, read on first use and again when a
// kind is not found.
func discoveryMapper(client kubernetes.Interface) meta.RESTMapper {
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))
}

func newPVCProtection(c *Context) (Runner, error) {
	client, err := c.Client("pvc-protection-controller")
	if err != nil {
		return nil, err
	}
	return pvcprotection.New(pvcprotection.Config{Client: client, Informers: c.Informers, Logger: c.Logger})
}

func newPVProtection(c *Context) (Runner, error) {
	client, err := c.Client("pv-protection-controller")
	if err != nil {
		return nil, err
	}
	return pvprotection.New(pvprotection.Config{Client: client, Informers: c.Informers, Logger: c.Logger})
}

func newPersistentVolumeBinder(c *Context) (Runner, error) {
	client, err := c.Client("persistent-volume-binder")
	if err != nil {
		return nil, err
	}
	return persistentvolume.New(persistentvolume.Config{Client: client, Informers: c.Informers,
		Recorder: c.Recorder("persistentvolume-controller"), Logger: c.Logger})
}
