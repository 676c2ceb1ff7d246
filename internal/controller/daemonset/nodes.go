package daemonset

import (
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/skiff-dev/skiff/internal/controller/history"
)

// TemplateGenerationLabel is the label upstream still puts on daemon pods: the set's generation
// when the pod was made (superseded by the revision hash, kept for tools that read it).
const TemplateGenerationLabel = "pod-template-generation"

// daemonTolerations are what upstream adds to every daemon pod: a daemon keeps running through
// node trouble, and is placed on nodes under pressure or cordoned.
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// hostNetworkToleration is added for pods on the host network, which need no pod network.
var hostNetworkToleration = corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// addTolerations adds the daemon tolerations a pod spec lacks; one with the same key, operator
// and effect that the template already has is kept as written.
func addTolerations(spec *corev1.PodSpec) {
	want := append([]corev1.Toleration(nil), daemonTolerations...)
	if spec.HostNetwork {
		want = append(want, hostNetworkToleration)
	}
	for _, t := range want {
		found := false
		for i := range spec.Tolerations {
			have := spec.Tolerations[i]
			if have.Key == t.Key && have.Effect == t.Effect && have.Operator == t.Operator {
				found = true
				break
			}
		}
		if !found {
			spec.Tolerations = append(spec.Tolerations, t)
		}
	}
}

// pinToNode makes the pod's required node affinity select only the named node, keeping the
// label requirements of each term, as upstream does so that the scheduler binds it there.
func pinToNode(spec *corev1.PodSpec, node string) {
	field := []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil || len(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: field}}}
		return
	}
	terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		terms[i].MatchFields = field
	}
}

// pinnedNode is the node a daemon pod is meant for: where it is bound, or where its affinity pins it.
func pinnedNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == metav1.ObjectNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// newPod is the set's pod for a node, made from the template with the revision's hash.
func newPod(ds *appsv1.DaemonSet, node, hash string) *corev1.Pod {
	tmpl := ds.Spec.Template.DeepCopy()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          make(map[string]string, len(tmpl.Labels)+2),
			Annotations:     tmpl.Annotations,
			Finalizers:      tmpl.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, Kind)},
		},
		Spec: tmpl.Spec,
	}
	for k, v := range tmpl.Labels {
		p.Labels[k] = v
	}
	p.Labels[history.HashLabel] = hash
	p.Labels[TemplateGenerationLabel] = strconv.FormatInt(ds.Generation, 10)
	addTolerations(&p.Spec)
	pinToNode(&p.Spec, node)
	return p
}

// placement says whether a set's pod should be started on a node (its selector, affinity and
// every NoSchedule and NoExecute taint admit it) and whether one already there may stay (only
// NoExecute taints evict).
func placement(ds *appsv1.DaemonSet, node *corev1.Node) (shouldRun, mayStay bool) {
	spec := ds.Spec.Template.Spec.DeepCopy()
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	addTolerations(spec)
	pod := &corev1.Pod{Spec: *spec}
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !ok {
		return false, false
	}
	shouldRun, mayStay = true, true
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if tolerated(spec.Tolerations, t) {
			continue
		}
		shouldRun = false
		if t.Effect == corev1.TaintEffectNoExecute {
			mayStay = false
		}
	}
	return shouldRun, mayStay
}

func tolerated(tols []corev1.Toleration, t *corev1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(klog.Background(), t, false) {
			return true
		}
	}
	return false
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func isReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// availableIn says how long until a ready pod counts as available (0: now; negative: not ready).
func availableIn(p *corev1.Pod, minReady int32, now time.Time) time.Duration {
	if !isReady(p) || p.DeletionTimestamp != nil {
		return -1
	}
	if minReady <= 0 {
		return 0
	}
	left := readyCondition(p).LastTransitionTime.Add(time.Duration(minReady) * time.Second).Sub(now)
	return max(left, 0)
}
