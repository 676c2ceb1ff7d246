package printers

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

var serviceTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Type", Type: "string", Description: "How the service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName."},
		{Name: "Cluster-IP", Type: "string", Description: "The service's virtual IP inside the cluster."},
		{Name: "External-IP", Type: "string", Description: "Addresses the service is reachable at from outside the cluster."},
		{Name: "Port(s)", Type: "string", Description: "Service ports, with the node port when there is one."},
		ageColumn,
		{Name: "Selector", Type: "string", Priority: 1, Description: "Labels of the pods the service routes to."},
	},
	Row: rowFor(func(svc *corev1.Service) []interface{} {
		clusterIP := none
		if len(svc.Spec.ClusterIPs) > 0 {
			clusterIP = svc.Spec.ClusterIPs[0]
		} else if svc.Spec.ClusterIP != "" {
			clusterIP = svc.Spec.ClusterIP
		}
		return []interface{}{
			svc.Name, string(svc.Spec.Type), clusterIP, serviceExternalIP(svc),
			orNone(servicePorts(svc.Spec.Ports)), age(svc.CreationTimestamp),
			labels.FormatLabels(svc.Spec.Selector),
		}
	}),
}

// serviceExternalIP is upstream's EXTERNAL-IP cell as the server renders it (always wide, so
// load-balancer addresses are never clipped).
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return none
	case corev1.ServiceTypeLoadBalancer:
		lb := sets.New[string]()
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				lb.Insert(in.IP)
			} else if in.Hostname != "" {
				lb.Insert(in.Hostname)
			}
		}
		all := append(sets.List(lb), svc.Spec.ExternalIPs...)
		if len(all) == 0 {
			return "<pending>"
		}
		return strings.Join(all, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return unknown
}

func servicePorts(ports []corev1.ServicePort) string {
	out := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			out[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			out[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(out, ",")
}

var endpointsTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Endpoints", Type: "string", Description: "Addresses (with ports) behind the service, the first three of them."},
		ageColumn,
	},
	Row: rowFor(func(ep *corev1.Endpoints) []interface{} {
		return []interface{}{ep.Name, endpointsCell(ep), age(ep.CreationTimestamp)}
	}),
}

// endpointsCell lists the first three address:port pairs of every subset (bare addresses for
// port-less headless subsets) and counts the rest.
func endpointsCell(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return none
	}
	const max = 3
	var list []string
	total := 0
	add := func(s string) {
		total++
		if len(list) < max {
			list = append(list, s)
		}
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	return listWithMore(list, total, max)
}

// Node role labels, as kubeadm and upstream's printer read them.
const (
	nodeRolePrefix = "node-role.kubernetes.io/"
	nodeRoleLabel  = "kubernetes.io/role"
)

var nodeTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Status", Type: "string", Description: "Readiness of the node, and whether it is cordoned."},
		{Name: "Roles", Type: "string", Description: "Roles from the node's node-role.kubernetes.io/* labels."},
		ageColumn,
		{Name: "Version", Type: "string", Description: "Version the node agent reports."},
		{Name: "Internal-IP", Type: "string", Priority: 1, Description: "The node's first InternalIP address."},
		{Name: "External-IP", Type: "string", Priority: 1, Description: "The node's first ExternalIP address."},
		{Name: "OS-Image", Type: "string", Priority: 1, Description: "Operating system image the node reports."},
		{Name: "Kernel-Version", Type: "string", Priority: 1, Description: "Kernel version the node reports."},
		{Name: "Container-Runtime", Type: "string", Priority: 1, Description: "Container runtime and version the node reports."},
	},
	Row: rowFor(func(n *corev1.Node) []interface{} {
		info := n.Status.NodeInfo
		orUnknown := func(s string) string {
			if s == "" {
				return unknown
			}
			return s
		}
		return []interface{}{
			n.Name, nodeStatus(n), orNone(strings.Join(nodeRoles(n), ",")), age(n.CreationTimestamp),
			info.KubeletVersion, nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
			orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion),
		}
	}),
}

func nodeStatus(n *corev1.Node) string {
	status := "Unknown"
	// The last Ready condition wins, as it does when upstream indexes conditions by type.
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			} else {
				status = "NotReady"
			}
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

func nodeRoles(n *corev1.Node) []string {
	roles := sets.New[string]()
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, nodeRolePrefix):
			if r := strings.TrimPrefix(k, nodeRolePrefix); r != "" {
				roles.Insert(r)
			}
		case k == nodeRoleLabel && v != "":
			roles.Insert(v)
		}
	}
	return sets.List(roles)
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return none
}

var namespaceTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Status", Type: "string", Description: "Phase of the namespace: Active or Terminating."},
		ageColumn,
	},
	Row: rowFor(func(ns *corev1.Namespace) []interface{} {
		return []interface{}{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp)}
	}),
}

var configMapTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Data", Type: "string", Description: "Number of keys, text and binary."},
		ageColumn,
	},
	Row: rowFor(func(cm *corev1.ConfigMap) []interface{} {
		return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp)}
	}),
}

var secretTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Type", Type: "string", Description: "Type of the secret's data."},
		{Name: "Data", Type: "string", Description: "Number of keys."},
		ageColumn,
	},
	Row: rowFor(func(s *corev1.Secret) []interface{} {
		return []interface{}{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp)}
	}),
}

var serviceAccountTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Secrets", Type: "string", Description: "Number of secrets the account lists."},
		ageColumn,
	},
	Row: rowFor(func(sa *corev1.ServiceAccount) []interface{} {
		return []interface{}{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp)}
	}),
}

var persistentVolumeTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Capacity", Type: "string", Description: "Storage capacity of the volume."},
		{Name: "Access Modes", Type: "string", Description: "Ways the volume can be mounted (RWO, ROX, RWX, RWOP)."},
		{Name: "Reclaim Policy", Type: "string", Description: "What happens to the volume when its claim is released."},
		{Name: "Status", Type: "string", Description: "Phase of the volume."},
		{Name: "Claim", Type: "string", Description: "The claim bound to the volume, as namespace/name."},
		{Name: "StorageClass", Type: "string", Description: "Storage class of the volume."},
		{Name: "VolumeAttributesClass", Type: "string", Description: "Volume attributes class of the volume."},
		{Name: "Reason", Type: "string", Description: "Why the volume is in its phase."},
		ageColumn,
		{Name: "VolumeMode", Type: "string", Priority: 1, Description: "Filesystem or Block."},
	},
	Row: rowFor(func(pv *corev1.PersistentVolume) []interface{} {
		claim := ""
		if r := pv.Spec.ClaimRef; r != nil {
			claim = r.Namespace + "/" + r.Name
		}
		phase := string(pv.Status.Phase)
		if pv.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		class := pv.Spec.StorageClassName
		if a, ok := pv.Annotations[corev1.BetaStorageClassAnnotation]; ok {
			class = a
		}
		size := pv.Spec.Capacity[corev1.ResourceStorage]
		return []interface{}{
			pv.Name, size.String(), accessModes(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
			phase, claim, class, strPtrOr(pv.Spec.VolumeAttributesClassName, unset), pv.Status.Reason,
			age(pv.CreationTimestamp), volumeMode(pv.Spec.VolumeMode),
		}
	}),
}

var persistentVolumeClaimTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Status", Type: "string", Description: "Phase of the claim."},
		{Name: "Volume", Type: "string", Description: "The volume bound to the claim."},
		{Name: "Capacity", Type: "string", Description: "Capacity of the bound volume."},
		{Name: "Access Modes", Type: "string", Description: "Access modes of the bound volume."},
		{Name: "StorageClass", Type: "string", Description: "Storage class the claim asks for."},
		{Name: "VolumeAttributesClass", Type: "string", Description: "Volume attributes class the claim asks for."},
		ageColumn,
		{Name: "VolumeMode", Type: "string", Priority: 1, Description: "Filesystem or Block."},
	},
	Row: rowFor(func(pvc *corev1.PersistentVolumeClaim) []interface{} {
		phase := string(pvc.Status.Phase)
		if pvc.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		capacity, modes := "", ""
		// Capacity and modes are those of the bound volume; an unbound claim shows neither.
		if pvc.Spec.VolumeName != "" {
			q := pvc.Status.Capacity[corev1.ResourceStorage]
			capacity, modes = q.String(), accessModes(pvc.Status.AccessModes)
		}
		class := strPtrOr(pvc.Spec.StorageClassName, "")
		if a, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
			class = a
		}
		return []interface{}{
			pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class,
			strPtrOr(pvc.Spec.VolumeAttributesClassName, unset), age(pvc.CreationTimestamp),
			volumeMode(pvc.Spec.VolumeMode),
		}
	}),
}

func strPtrOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return unset
	}
	return string(*m)
}

// accessModes abbreviates access modes in a fixed order, each once.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	has := sets.New(modes...)
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has.Has(m.mode) {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

var resourceQuotaTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Request", Type: "string", Description: "Used out of hard quota for every resource that is not a limit."},
		{Name: "Limit", Type: "string", Description: "Used out of hard quota for the limits.* resources."},
		ageColumn,
	},
	Row: rowFor(func(q *corev1.ResourceQuota) []interface{} {
		names := make([]string, 0, len(q.Status.Hard))
		for n := range q.Status.Hard {
			names = append(names, string(n))
		}
		sort.Strings(names)
		var req, lim []string
		for _, n := range names {
			used, hard := q.Status.Used[corev1.ResourceName(n)], q.Status.Hard[corev1.ResourceName(n)]
			cell := fmt.Sprintf("%s: %s/%s", n, used.String(), hard.String())
			if strings.HasPrefix(n, "limits.") {
				lim = append(lim, cell)
			} else {
				req = append(req, cell)
			}
		}
		return []interface{}{q.Name, strings.Join(req, ", "), strings.Join(lim, ", "), age(q.CreationTimestamp)}
	}),
}

var coreEventTable = &registry.Table{
	Columns: eventColumns,
	Row: rowFor(func(e *corev1.Event) []interface{} {
		return eventView{
			name: e.Name, typ: e.Type, reason: e.Reason, message: e.Message,
			regarding: e.InvolvedObject, source: e.Source,
			reportingController: e.ReportingController, reportingInstance: e.ReportingInstance,
			first: e.FirstTimestamp, last: e.LastTimestamp, eventTime: e.EventTime,
			count: e.Count, series: e.Series,
		}.cells()
	}),
}

// eventColumns serve both core/v1 and events.k8s.io/v1 events: upstream prints both through one
// printer, and `kubectl get events` shows LAST SEEN TYPE REASON OBJECT MESSAGE.
var eventColumns = []metav1.TableColumnDefinition{
	{Name: "Last Seen", Type: "string", Description: "Time since the event was last observed."},
	{Name: "Type", Type: "string", Description: "Normal or Warning."},
	{Name: "Reason", Type: "string", Description: "Short machine-readable reason of the event."},
	{Name: "Object", Type: "string", Description: "The object the event is about, as kind/name."},
	{Name: "Subobject", Type: "string", Priority: 1, Description: "The part of the object the event is about (a field path)."},
	{Name: "Source", Type: "string", Priority: 1, Description: "Component (and host) that reported the event."},
	{Name: "Message", Type: "string", Description: "Human-readable description of the event."},
	{Name: "First Seen", Type: "string", Priority: 1, Description: "Time since the event was first observed."},
	{Name: "Count", Type: "string", Priority: 1, Description: "Number of times the event occurred."},
	{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: "Name of the event object."},
}

// eventView is what the event columns need, in the shape of a core/v1 Event, so that both event APIs
// render through one function.
type eventView struct {
	name, typ, reason, message             string
	regarding                              corev1.ObjectReference
	source                                 corev1.EventSource
	reportingController, reportingInstance string
	first, last                            metav1.Time
	eventTime                              metav1.MicroTime
	count                                  int32
	series                                 *corev1.EventSeries
}

func (e eventView) cells() []interface{} {
	first := age(e.first)
	if e.first.IsZero() {
		first = microAge(e.eventTime)
	}
	last := age(e.last)
	if e.last.IsZero() {
		last = first
	}
	count := e.count
	if e.series != nil {
		last, count = microAge(e.series.LastObservedTime), e.series.Count
	} else if count == 0 {
		// Events of the new API that happened once carry no count.
		count = 1
	}
	target := strings.ToLower(e.regarding.Kind)
	if e.regarding.Name != "" {
		target += "/" + e.regarding.Name
	}
	component, host := e.source.Component, e.source.Host
	if component == "" {
		component = e.reportingController
	}
	if host == "" {
		host = e.reportingInstance
	}
	source := component
	if host != "" {
		source += ", " + host
	}
	return []interface{}{
		last, e.typ, e.reason, target, e.regarding.FieldPath, source,
		strings.TrimSpace(e.message), first, int64(count), e.name,
	}
}
