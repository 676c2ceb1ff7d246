package serviceaccount

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

// DefaultName is the service account of pods that name none.
const DefaultName = "default"

// MirrorPodAnnotation marks the API copies of a kubelet's static pods.
const MirrorPodAnnotation = "kubernetes.io/config.mirror"

var (
	podsGVR = corev1.SchemeGroupVersion.WithResource("pods")
	saGVR   = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
)

// Plugin is the ServiceAccount plugin.
type Plugin struct {
	lookup admission.Lookup
}

// New returns the plugin.
func New(l admission.Lookup) *Plugin { return &Plugin{lookup: l} }

func newPod(a *admission.Attributes) *corev1.Pod {
	if a.Operation != admission.Create || a.Subresource != "" || a.Resource.GroupResource() != podsGVR.GroupResource() {
		return nil
	}
	pod, _ := a.Object.(*corev1.Pod)
	return pod
}

// Admit names the default service account on pods that name none.
func (p *Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	pod := newPod(a)
	if pod == nil {
		return nil
	}
	if _, mirror := pod.Annotations[MirrorPodAnnotation]; mirror {
		// A static pod's manifest lives on its node, outside any service account's reach.
		if pod.Spec.ServiceAccountName != "" {
			return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not reference service accounts"))
		}
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultName
	}
	return nil
}

// Validate refuses pods that name a service account that does not exist.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	pod := newPod(a)
	if pod == nil || pod.Spec.ServiceAccountName == "" {
		return nil
	}
	if _, mirror := pod.Annotations[MirrorPodAnnotation]; mirror {
		return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not reference service accounts"))
	}
	name := pod.Spec.ServiceAccountName
	_, err := p.lookup.Get(ctx, saGVR, a.Namespace, name)
	if apierrors.IsNotFound(err) && name == DefaultName {
		// The service account controller creates "default" shortly after its namespace; a pod
		// naming it is admitted whether or not it exists yet (see doc.go): no live read for it,
		// which every pod create would otherwise pay.
		return nil
	}
	if apierrors.IsNotFound(err) {
		// The account may have been created a moment ago.
		_, err = admission.GetLive(ctx, p.lookup, saGVR, a.Namespace, name)
	}
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %v", a.Namespace, name, err))
	}
	return nil
}
