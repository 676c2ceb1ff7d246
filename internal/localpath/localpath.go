package localpath

import (
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/volumematch"
)

const (
	// ClassName is the default StorageClass the API server creates when missing.
	ClassName = "local-path"
	// Provisioner is the provisioner name of that class, served by the PV controller itself.
	Provisioner = "skiff.dev/local-path"
	// RootAnnotation on a Node is the absolute directory under which its local-path volumes
	// live; the node agent sets it, and a node without it cannot host local-path volumes.
	RootAnnotation = "skiff.dev/local-path-root"
	// NodeLabel on a provisioned PV names the node whose agent owns its directory.
	NodeLabel = "skiff.dev/local-path-node"
	// CleanupFinalizer on a provisioned PV stays until the node agent removed the directory.
	CleanupFinalizer = "skiff.dev/local-path-cleanup"
)

// DefaultClass is the StorageClass the bootstrap creates: WaitForFirstConsumer so that a
// volume lands where its first pod is scheduled, Delete so that released directories go, and
// expansion allowed (a directory needs no resize).
func DefaultClass() *storagev1.StorageClass {
	reclaim := corev1.PersistentVolumeReclaimDelete
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	expand := true
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ClassName,
			Annotations: map[string]string{volumematch.IsDefaultAnnotation: "true"},
		},
		Provisioner:          Provisioner,
		ReclaimPolicy:        &reclaim,
		VolumeBindingMode:    &mode,
		AllowVolumeExpansion: &expand,
	}
}

// VolumeName is the name of the PV provisioned for claim.
func VolumeName(claim *corev1.PersistentVolumeClaim) string {
	return "pvc-" + string(claim.UID)
}

// VolumePath is the directory of claim's volume under a node's root:
// <root>/pvc-<uid>_<namespace>_<name>, readable by an administrator looking at the disk.
func VolumePath(root string, claim *corev1.PersistentVolumeClaim) (string, error) {
	if !filepath.IsAbs(root) {
		return "", fmt.Errorf("local-path root %q is not an absolute path", root)
	}
	if claim.UID == "" {
		return "", fmt.Errorf("claim %s/%s has no uid", claim.Namespace, claim.Name)
	}
	return filepath.Join(filepath.Clean(root), fmt.Sprintf("%s_%s_%s", VolumeName(claim), claim.Namespace, claim.Name)), nil
}

// NodeHostname is the kubernetes.io/hostname value a provisioned PV's node affinity names: the
// node's label, or its name when unlabelled.
func NodeHostname(node *corev1.Node) string {
	if h := node.Labels[corev1.LabelHostname]; h != "" {
		return h
	}
	return node.Name
}
