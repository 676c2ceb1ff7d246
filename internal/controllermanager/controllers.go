package controllermanager

import (
	"k8s.io/client-go/metadata/metadatainformer"

	"github.com/skiff-dev/skiff/internal/controller/daemonset"
	"github.com/skiff-dev/skiff/internal/controller/deployment"
	"github.com/skiff-dev/skiff/internal/controller/garbagecollector"
	"github.com/skiff-dev/skiff/internal/controller/namespace"
	"github.com/skiff-dev/skiff/internal/controller/replicaset"
	"github.com/skiff-dev/skiff/internal/controller/statefulset"
)

// Controllers is every controller the manager knows, in start order. Workers is the default
// worker count (upstream's --concurrent-*-syncs defaults).
var Controllers = []Descriptor{
	{Name: "replicaset", Workers: 5, New: newReplicaSet},
	{Name: "deployment", Workers: 5, New: newDeployment},
	{Name: "statefulset", Workers: 5, New: newStatefulSet},
	{Name: "daemonset", Workers: 2, New: newDaemonSet},
	{Name: "garbagecollector", Workers: 20, New: newGarbageCollector},
	{Name: "namespace", Workers: 10, New: newNamespace},
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
