package quotausage

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/podresources"
)

// The resources whose objects count more than themselves.
var (
	PodsGR     = schema.GroupResource{Resource: "pods"}
	ServicesGR = schema.GroupResource{Resource: "services"}
	PVCsGR     = schema.GroupResource{Resource: "persistentvolumeclaims"}
	QuotasGR   = schema.GroupResource{Resource: "resourcequotas"}
)

// legacyCounts are the core resources whose object count has a name of its own.
var legacyCounts = map[schema.GroupResource]corev1.ResourceName{
	PodsGR: corev1.ResourcePods, ServicesGR: corev1.ResourceServices, PVCsGR: corev1.ResourcePersistentVolumeClaims,
	{Resource: "configmaps"}: corev1.ResourceConfigMaps, {Resource: "secrets"}: corev1.ResourceSecrets,
	QuotasGR: corev1.ResourceQuotas, {Resource: "replicationcontrollers"}: corev1.ResourceReplicationControllers,
}

const storageClassSuffix = ".storageclass.storage.k8s.io/"

// CountName is the object-count name of gr: count/<resource> for the core group,
// count/<resource>.<group> otherwise.
func CountName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName("count/" + gr.Resource)
	}
	return corev1.ResourceName("count/" + gr.Resource + "." + gr.Group)
}

// ResourceOf says which resource's objects a quota name measures.
func ResourceOf(name corev1.ResourceName) schema.GroupResource {
	n := string(name)
	if rest, ok := strings.CutPrefix(n, "count/"); ok {
		r, g, _ := strings.Cut(rest, ".")
		return schema.GroupResource{Group: g, Resource: r}
	}
	for gr, legacy := range legacyCounts {
		if legacy == name {
			return gr
		}
	}
	switch {
	case name == corev1.ResourceServicesNodePorts || name == corev1.ResourceServicesLoadBalancers:
		return ServicesGR
	case name == corev1.ResourceRequestsStorage || strings.Contains(n, storageClassSuffix):
		return PVCsGR
	}
	return PodsGR
}

// Tracks says whether quota name measures objects of gr.
func Tracks(gr schema.GroupResource, name corev1.ResourceName) bool { return ResourceOf(name) == gr }

// One is the usage of one object.
func One() resource.Quantity { return *resource.NewQuantity(1, resource.DecimalSI) }

// Usage is what obj of resource gr counts against quotas. Objects marked for deletion count
// nothing: the ResourceQuota admission plugin releases their usage when it admits their deletion,
// and the quota controller must measure the same way or the two would undo each other.
func Usage(gr schema.GroupResource, obj runtime.Object) corev1.ResourceList {
	out := corev1.ResourceList{}
	if obj == nil {
		return out
	}
	if m, ok := obj.(v1.Object); ok && m.GetDeletionTimestamp() != nil {
		return out
	}
	out[CountName(gr)] = One()
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed {
			// Finished pods hold no compute; count/pods still counts them as stored objects.
			return out
		}
		out[corev1.ResourcePods] = One()
		podUsage(o, out)
		return out
	case *corev1.Service:
		out[corev1.ResourceServices] = One()
		ports := int64(0)
		switch o.Spec.Type {
		case corev1.ServiceTypeNodePort:
			ports = int64(len(o.Spec.Ports))
		case corev1.ServiceTypeLoadBalancer:
			out[corev1.ResourceServicesLoadBalancers] = One()
			if o.Spec.AllocateLoadBalancerNodePorts == nil || *o.Spec.AllocateLoadBalancerNodePorts {
				ports = int64(len(o.Spec.Ports))
			}
		}
		out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
		if o.Spec.Type != corev1.ServiceTypeLoadBalancer {
			out[corev1.ResourceServicesLoadBalancers] = resource.Quantity{}
		}
		return out
	case *corev1.PersistentVolumeClaim:
		out[corev1.ResourcePersistentVolumeClaims] = One()
		storage := o.Spec.Resources.Requests[corev1.ResourceStorage]
		if alloc, ok := o.Status.AllocatedResources[corev1.ResourceStorage]; ok && alloc.Cmp(storage) > 0 {
			storage = alloc
		}
		out[corev1.ResourceRequestsStorage] = storage.DeepCopy()
		if sc := o.Spec.StorageClassName; sc != nil && *sc != "" {
			out[corev1.ResourceName(*sc+storageClassSuffix+string(corev1.ResourceRequestsStorage))] = storage.DeepCopy()
			out[corev1.ResourceName(*sc+storageClassSuffix+string(corev1.ResourcePersistentVolumeClaims))] = One()
		}
		return out
	}
	if legacy, ok := legacyCounts[gr]; ok {
		out[legacy] = One()
	}
	return out
}

func podUsage(pod *corev1.Pod, out corev1.ResourceList) {
	req := podresources.Requests(pod)
	lim := podresources.Limits(pod)
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		q := req[r]
		out[r] = q.DeepCopy()
		out["requests."+r] = q.DeepCopy()
		l := lim[r]
		out["limits."+r] = l.DeepCopy()
	}
	for r, q := range req {
		n := string(r)
		switch {
		case strings.HasPrefix(n, corev1.ResourceHugePagesPrefix):
			out[r] = q.DeepCopy()
			out[corev1.ResourceName("requests."+n)] = q.DeepCopy()
		case strings.Contains(n, "/") && !strings.HasPrefix(n, corev1.ResourceDefaultNamespacePrefix) && !strings.HasPrefix(n, "requests."):
			// Extended resources are quota'd only as requests.<name>.
			out[corev1.ResourceName("requests."+n)] = q.DeepCopy()
		}
	}
}

// BestEffort is upstream's QoS rule: no container sets a cpu or memory request or limit.
func BestEffort(pod *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, rl := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					if q, ok := rl[r]; ok && !q.IsZero() {
						return false
					}
				}
			}
		}
	}
	return true
}

// scopeSelectors returns the quota's scopes and scope selector as one list of requirements.
func scopeSelectors(q *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range q.Spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if q.Spec.ScopeSelector != nil {
		out = append(out, q.Spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

// InScope says whether obj falls under every scope of q. Scopes describe pods: a scoped quota
// counts nothing else.
func InScope(q *corev1.ResourceQuota, obj runtime.Object) bool {
	sels := scopeSelectors(q)
	if len(sels) == 0 {
		return true
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return false
	}
	for _, s := range sels {
		if !podMatchesScope(pod, s) {
			return false
		}
	}
	return true
}

func podMatchesScope(pod *corev1.Pod, s corev1.ScopedResourceSelectorRequirement) bool {
	switch s.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
	case corev1.ResourceQuotaScopeNotTerminating:
		return pod.Spec.ActiveDeadlineSeconds == nil || *pod.Spec.ActiveDeadlineSeconds < 0
	case corev1.ResourceQuotaScopeBestEffort:
		return BestEffort(pod)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !BestEffort(pod)
	case corev1.ResourceQuotaScopePriorityClass:
		name := pod.Spec.PriorityClassName
		switch s.Operator {
		case corev1.ScopeSelectorOpExists:
			return name != ""
		case corev1.ScopeSelectorOpDoesNotExist:
			return name == ""
		case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
			in := false
			for _, v := range s.Values {
				in = in || v == name
			}
			return in == (s.Operator == corev1.ScopeSelectorOpIn)
		}
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(pod)
	}
	return false
}

func crossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	var terms []corev1.PodAffinityTerm
	if a.PodAffinity != nil {
		terms = append(terms, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if a.PodAntiAffinity != nil {
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	for _, t := range terms {
		if len(t.Namespaces) > 0 || t.NamespaceSelector != nil {
			return true
		}
	}
	return false
}

// Canonical prints a usage in the format of its limit (1Gi rather than 1073741824).
func Canonical(v, hard resource.Quantity) resource.Quantity {
	out := v.DeepCopy()
	out.Format = hard.Format
	if out.Format == "" {
		out.Format = resource.DecimalSI
	}
	return *resource.NewMilliQuantity(out.MilliValue(), out.Format)
}

// ByResource groups the names of hard by the resource whose objects they measure.
func ByResource(hard corev1.ResourceList) map[schema.GroupResource][]corev1.ResourceName {
	out := map[schema.GroupResource][]corev1.ResourceName{}
	for name := range hard {
		gr := ResourceOf(name)
		out[gr] = append(out[gr], name)
	}
	return out
}

// Add adds to used what objs, objects of gr, count under q for names (those of q's limits
// that measure gr).
func Add(used corev1.ResourceList, q *corev1.ResourceQuota, gr schema.GroupResource, names []corev1.ResourceName, objs []runtime.Object) {
	for _, o := range objs {
		if !InScope(q, o) {
			continue
		}
		u := Usage(gr, o)
		for _, n := range names {
			if v, ok := u[n]; ok {
				cur := used[n]
				cur.Add(v)
				used[n] = cur
			}
		}
	}
}
