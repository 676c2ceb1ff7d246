package tolerationseconds

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

// DefaultSeconds is how long pods tolerate a not-ready or unreachable node (upstream's default of
// --default-not-ready-toleration-seconds and --default-unreachable-toleration-seconds).
const DefaultSeconds int64 = 300

// Plugin is the DefaultTolerationSeconds plugin.
type Plugin struct {
	NotReadySeconds, UnreachableSeconds int64
}

// New returns the plugin with upstream's defaults.
func New() *Plugin {
	return &Plugin{NotReadySeconds: DefaultSeconds, UnreachableSeconds: DefaultSeconds}
}

// Admit adds the tolerations a pod lacks.
func (p *Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if (a.Operation != admission.Create && a.Operation != admission.Update) || a.Subresource != "" ||
		a.Resource.GroupResource() != corev1.SchemeGroupVersion.WithResource("pods").GroupResource() {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	for _, d := range []struct {
		key     string
		seconds int64
	}{{corev1.TaintNodeNotReady, p.NotReadySeconds}, {corev1.TaintNodeUnreachable, p.UnreachableSeconds}} {
		if tolerates(pod.Spec.Tolerations, d.key) {
			continue
		}
		secs := d.seconds
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: d.key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
		})
	}
	return nil
}

// tolerates says whether some toleration already covers the NoExecute taint key (an empty key or
// effect is a wildcard).
func tolerates(ts []corev1.Toleration, key string) bool {
	for _, t := range ts {
		if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
			return true
		}
	}
	return false
}
