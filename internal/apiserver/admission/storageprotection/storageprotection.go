package storageprotection

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

const (
	// PVCFinalizer holds a claim while a pod uses it.
	PVCFinalizer = "kubernetes.io/pvc-protection"
	// PVFinalizer holds a volume while a claim is bound to it.
	PVFinalizer = "kubernetes.io/pv-protection"
)

// Plugin is the StorageObjectInUseProtection plugin.
type Plugin struct{}

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Admit adds the protection finalizer to new claims and volumes.
func (Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" {
		return nil
	}
	switch o := a.Object.(type) {
	case *corev1.PersistentVolumeClaim:
		if !slices.Contains(o.Finalizers, PVCFinalizer) {
			o.Finalizers = append(o.Finalizers, PVCFinalizer)
		}
	case *corev1.PersistentVolume:
		if !slices.Contains(o.Finalizers, PVFinalizer) {
			o.Finalizers = append(o.Finalizers, PVFinalizer)
		}
	}
	return nil
}
