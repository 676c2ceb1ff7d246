package controllermanager

import (
	"github.com/skiff-dev/skiff/internal/controller/deployment"
	"github.com/skiff-dev/skiff/internal/controller/replicaset"
)

// Controllers is every controller the manager knows, in start order. Workers is the default
// worker count (upstream's --concurrent-*-syncs defaults).
var Controllers = []Descriptor{
	{Name: "replicaset", Workers: 5, New: newReplicaSet},
	{Name: "deployment", Workers: 5, New: newDeployment},
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
