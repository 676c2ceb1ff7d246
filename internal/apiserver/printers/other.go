package printers

import (
	"fmt"
	"strconv"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/volumematch"
)

var leaseTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Holder", Type: "string", Description: "Identity of the current holder of the lease."},
		ageColumn,
	},
	Row: rowFor(func(l *coordinationv1.Lease) []interface{} {
		return []interface{}{l.Name, strPtrOr(l.Spec.HolderIdentity, ""), age(l.CreationTimestamp)}
	}),
}

var endpointSliceTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "AddressType", Type: "string", Description: "Address family of the endpoints: IPv4, IPv6 or FQDN."},
		{Name: "Ports", Type: "string", Description: "Ports of the slice, the first three of them."},
		{Name: "Endpoints", Type: "string", Description: "Endpoint addresses, the first three of them."},
		ageColumn,
	},
	Row: rowFor(func(s *discoveryv1.EndpointSlice) []interface{} {
		const max = 3
		var ports []string
		for _, p := range s.Ports {
			if len(ports) == max {
				break
			}
			switch {
			case p.Port != nil:
				ports = append(ports, strconv.Itoa(int(*p.Port)))
			case p.Name != nil:
				ports = append(ports, *p.Name)
			default:
				ports = append(ports, "*")
			}
		}
		var addrs []string
		total := 0
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				total++
				if len(addrs) < max {
					addrs = append(addrs, a)
				}
			}
		}
		orUnset := func(s string) string {
			if s == "" {
				return unset
			}
			return s
		}
		return []interface{}{
			s.Name, string(s.AddressType), orUnset(listWithMore(ports, len(s.Ports), max)),
			orUnset(listWithMore(addrs, total, max)), age(s.CreationTimestamp),
		}
	}),
}

var eventsEventTable = &registry.Table{
	Columns: eventColumns,
	Row: rowFor(func(e *eventsv1.Event) []interface{} {
		v := eventView{
			name: e.Name, typ: e.Type, reason: e.Reason, message: e.Note,
			regarding: e.Regarding, source: e.DeprecatedSource,
			reportingController: e.ReportingController, reportingInstance: e.ReportingInstance,
			first: e.DeprecatedFirstTimestamp, last: e.DeprecatedLastTimestamp, eventTime: e.EventTime,
			count: e.DeprecatedCount,
		}
		if e.Series != nil {
			v.series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
		}
		return v.cells()
	}),
}

var storageClassTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Provisioner", Type: "string", Description: "Volume plugin that provisions volumes of the class."},
		{Name: "ReclaimPolicy", Type: "string", Description: "Reclaim policy given to provisioned volumes."},
		{Name: "VolumeBindingMode", Type: "string", Description: "When claims of the class are bound and provisioned."},
		{Name: "AllowVolumeExpansion", Type: "string", Description: "Whether claims of the class may grow."},
		ageColumn,
	},
	Row: rowFor(func(sc *storagev1.StorageClass) []interface{} {
		name := sc.Name
		if volumematch.IsDefaultClass(sc) {
			name += " (default)"
		}
		reclaim := string(corev1.PersistentVolumeReclaimDelete)
		if sc.ReclaimPolicy != nil {
			reclaim = string(*sc.ReclaimPolicy)
		}
		binding := string(storagev1.VolumeBindingImmediate)
		if sc.VolumeBindingMode != nil {
			binding = string(*sc.VolumeBindingMode)
		}
		expand := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
		return []interface{}{name, sc.Provisioner, reclaim, binding, expand, age(sc.CreationTimestamp)}
	}),
}

var podDisruptionBudgetTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Min Available", Type: "string", Description: "Pods that must stay available."},
		{Name: "Max Unavailable", Type: "string", Description: "Pods that may be unavailable."},
		{Name: "Allowed Disruptions", Type: "integer", Description: "Pods that may be evicted right now."},
		ageColumn,
	},
	Row: rowFor(func(p *policyv1.PodDisruptionBudget) []interface{} {
		minAvail, maxUnavail := "N/A", "N/A"
		if p.Spec.MinAvailable != nil {
			minAvail = p.Spec.MinAvailable.String()
		}
		if p.Spec.MaxUnavailable != nil {
			maxUnavail = p.Spec.MaxUnavailable.String()
		}
		return []interface{}{p.Name, minAvail, maxUnavail, int64(p.Status.DisruptionsAllowed), age(p.CreationTimestamp)}
	}),
}

var hpaTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Reference", Type: "string", Description: "The scaled object, as Kind/name."},
		{Name: "Targets", Type: "string", Description: "Current out of target value of each metric (the first two)."},
		{Name: "MinPods", Type: "string", Description: "Lower bound of the replica count."},
		{Name: "MaxPods", Type: "string", Description: "Upper bound of the replica count."},
		{Name: "Replicas", Type: "string", Description: "Current replica count of the scaled object."},
		ageColumn,
	},
	Row: hpaRow,
}

// hpaRow renders autoscaling/v1 and autoscaling/v2 objects alike; v1's CPU target reads as v2's
// single CPU utilization metric.
func hpaRow(obj runtime.Object) ([]interface{}, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		var typed runtime.Object = &autoscalingv2.HorizontalPodAutoscaler{}
		if u.GroupVersionKind().Version == "v1" {
			typed = &autoscalingv1.HorizontalPodAutoscaler{}
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), typed); err != nil {
			return nil, err
		}
		obj = typed
	}
	var (
		om            metav1.ObjectMeta
		ref           string
		minReplicas   *int32
		maxReplicas   int32
		currentReplic int32
		targets       string
	)
	switch h := obj.(type) {
	case *autoscalingv2.HorizontalPodAutoscaler:
		om, ref = h.ObjectMeta, h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name
		minReplicas, maxReplicas, currentReplic = h.Spec.MinReplicas, h.Spec.MaxReplicas, h.Status.CurrentReplicas
		targets = hpaTargets(h.Spec.Metrics, h.Status.CurrentMetrics)
	case *autoscalingv1.HorizontalPodAutoscaler:
		om, ref = h.ObjectMeta, h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name
		minReplicas, maxReplicas, currentReplic = h.Spec.MinReplicas, h.Spec.MaxReplicas, h.Status.CurrentReplicas
		targets = none
		if t := h.Spec.TargetCPUUtilizationPercentage; t != nil {
			current := unknown
			if c := h.Status.CurrentCPUUtilizationPercentage; c != nil {
				current = fmt.Sprintf("%d%%", *c)
			}
			targets = fmt.Sprintf("cpu: %s/%d%%", current, *t)
		}
	default:
		return nil, fmt.Errorf("printers: cannot print %T as a HorizontalPodAutoscaler", obj)
	}
	minPods := unset
	if minReplicas != nil {
		minPods = strconv.Itoa(int(*minReplicas))
	}
	return []interface{}{om.Name, ref, targets, minPods, int64(maxReplicas), int64(currentReplic), age(om.CreationTimestamp)}, nil
}

// hpaTargets renders "current/target" per metric; statuses pair with specs by position, as the HPA
// controller writes them.
func hpaTargets(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return none
	}
	const max = 2
	var list []string
	for i, spec := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		list = append(list, hpaTarget(spec, st))
	}
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ", "), len(list)-max)
	}
	return strings.Join(list, ", ")
}

func hpaTarget(spec autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) string {
	cur := unknown
	switch spec.Type {
	case autoscalingv2.ExternalMetricSourceType:
		if spec.External == nil {
			break
		}
		if t := spec.External.Target; t.AverageValue != nil {
			if st != nil && st.External != nil && st.External.Current.AverageValue != nil {
				cur = st.External.Current.AverageValue.String()
			}
			return fmt.Sprintf("%s/%s (avg)", cur, t.AverageValue.String())
		}
		if st != nil && st.External != nil {
			cur = st.External.Current.Value.String()
		}
		return fmt.Sprintf("%s/%s", cur, spec.External.Target.Value.String())
	case autoscalingv2.PodsMetricSourceType:
		if spec.Pods == nil {
			break
		}
		if st != nil && st.Pods != nil {
			cur = st.Pods.Current.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s", cur, spec.Pods.Target.AverageValue.String())
	case autoscalingv2.ObjectMetricSourceType:
		if spec.Object == nil {
			break
		}
		if t := spec.Object.Target; t.AverageValue != nil {
			if st != nil && st.Object != nil && st.Object.Current.AverageValue != nil {
				cur = st.Object.Current.AverageValue.String()
			}
			return fmt.Sprintf("%s/%s (avg)", cur, t.AverageValue.String())
		}
		if st != nil && st.Object != nil {
			cur = st.Object.Current.Value.String()
		}
		return fmt.Sprintf("%s/%s", cur, spec.Object.Target.Value.String())
	case autoscalingv2.ResourceMetricSourceType:
		if spec.Resource == nil {
			break
		}
		var current *autoscalingv2.MetricValueStatus
		if st != nil && st.Resource != nil {
			current = &st.Resource.Current
		}
		return resourceTarget(string(spec.Resource.Name), spec.Resource.Target, current)
	case autoscalingv2.ContainerResourceMetricSourceType:
		if spec.ContainerResource == nil {
			break
		}
		var current *autoscalingv2.MetricValueStatus
		if st != nil && st.ContainerResource != nil {
			current = &st.ContainerResource.Current
		}
		return resourceTarget(string(spec.ContainerResource.Name), spec.ContainerResource.Target, current)
	}
	return "<unknown type>"
}

// resourceTarget renders a CPU/memory metric either as an average value or as a utilization.
func resourceTarget(name string, target autoscalingv2.MetricTarget, current *autoscalingv2.MetricValueStatus) string {
	cur := unknown
	if target.AverageValue != nil {
		if current != nil {
			cur = current.AverageValue.String()
		}
		return fmt.Sprintf("%s: %s/%s", name, cur, target.AverageValue.String())
	}
	if current != nil && current.AverageUtilization != nil {
		cur = fmt.Sprintf("%d%%", *current.AverageUtilization)
	}
	want := "<auto>"
	if target.AverageUtilization != nil {
		want = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return fmt.Sprintf("%s: %s/%s", name, cur, want)
}

var priorityClassTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Value", Type: "integer", Description: "Priority given to pods of the class."},
		{Name: "Global-Default", Type: "boolean", Description: "Whether pods without a class get this one."},
		ageColumn,
		{Name: "PreemptionPolicy", Type: "string", Description: "Whether pods of the class may preempt lower-priority pods."},
	},
	Row: rowFor(func(pc *schedulingv1.PriorityClass) []interface{} {
		policy := ""
		if pc.PreemptionPolicy != nil {
			policy = string(*pc.PreemptionPolicy)
		}
		return []interface{}{pc.Name, int64(pc.Value), pc.GlobalDefault, age(pc.CreationTimestamp), policy}
	}),
}

var roleBindingTable = &registry.Table{
	Columns: bindingColumns("role binding"),
	Row: rowFor(func(b *rbacv1.RoleBinding) []interface{} {
		return bindingCells(b.ObjectMeta, b.RoleRef, b.Subjects)
	}),
}

var clusterRoleBindingTable = &registry.Table{
	Columns: bindingColumns("cluster role binding"),
	Row: rowFor(func(b *rbacv1.ClusterRoleBinding) []interface{} {
		return bindingCells(b.ObjectMeta, b.RoleRef, b.Subjects)
	}),
}

func bindingColumns(what string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Role", Type: "string", Description: "The role granted, as Kind/name."},
		ageColumn,
		{Name: "Users", Type: "string", Priority: 1, Description: "Users the " + what + " grants the role to."},
		{Name: "Groups", Type: "string", Priority: 1, Description: "Groups the " + what + " grants the role to."},
		{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "Service accounts (namespace:name) the " + what + " grants the role to."},
	}
}

func bindingCells(om metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject) []interface{} {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+":"+s.Name)
		}
	}
	return []interface{}{
		om.Name, ref.Kind + "/" + ref.Name, age(om.CreationTimestamp),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", "),
	}
}
