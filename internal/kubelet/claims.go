package kubelet

import (
	"context"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/kubelet/localpathdirs"
)

// claimObjects backs the claim volume plugin. Claims are read with a GET when a pod's volume is
// first set up (and while it waits for binding), as upstream's kubelet does: a node cannot
// select the claims its pods use in a watch, and watching every claim of the cluster on every
// node costs memory for objects the node never needs. The plugin records what it resolved, so a
// running pod costs no further reads. The node's own local-path PVs come from the localpath
// controller's cache, which watches only them; other PVs (hand-made local and hostPath ones)
// are read with a GET.
type claimObjects struct {
	client kubernetes.Interface
	local  *localpathdirs.Controller
}

func (o claimObjects) GetClaim(ctx context.Context, ns, name string) (*v1.PersistentVolumeClaim, error) {
	return o.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o claimObjects) GetVolume(ctx context.Context, name string) (*v1.PersistentVolume, error) {
	if o.local != nil && o.local.HasSynced() {
		if pv, err := o.local.Lister().Get(name); err == nil {
			return pv, nil
		}
	}
	return o.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
}
