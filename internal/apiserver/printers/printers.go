package printers

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// now is the clock behind every age and duration cell; tests replace it so that "5m" stays "5m".
var now = time.Now

// Placeholders kubectl users know from upstream; keeping them identical keeps scripts that grep for
// them working.
const (
	none    = "<none>"
	unknown = "<unknown>"
	unset   = "<unset>"
)

// tables maps each kind with its own columns to its table. Kinds served in several versions (HPA
// v1/v2) share one entry: their Row accepts every version.
var tables = map[schema.GroupKind]*registry.Table{
	{Group: "", Kind: "Pod"}:                   podTable,
	{Group: "", Kind: "PodTemplate"}:           podTemplateTable,
	{Group: "", Kind: "Service"}:               serviceTable,
	{Group: "", Kind: "Endpoints"}:             endpointsTable,
	{Group: "", Kind: "Node"}:                  nodeTable,
	{Group: "", Kind: "Namespace"}:             namespaceTable,
	{Group: "", Kind: "ConfigMap"}:             configMapTable,
	{Group: "", Kind: "Secret"}:                secretTable,
	{Group: "", Kind: "ServiceAccount"}:        serviceAccountTable,
	{Group: "", Kind: "Event"}:                 coreEventTable,
	{Group: "", Kind: "PersistentVolume"}:      persistentVolumeTable,
	{Group: "", Kind: "PersistentVolumeClaim"}: persistentVolumeClaimTable,
	{Group: "", Kind: "ResourceQuota"}:         resourceQuotaTable,

	{Group: "apps", Kind: "Deployment"}:         deploymentTable,
	{Group: "apps", Kind: "ReplicaSet"}:         replicaSetTable,
	{Group: "apps", Kind: "StatefulSet"}:        statefulSetTable,
	{Group: "apps", Kind: "DaemonSet"}:          daemonSetTable,
	{Group: "apps", Kind: "ControllerRevision"}: controllerRevisionTable,

	{Group: "batch", Kind: "Job"}:     jobTable,
	{Group: "batch", Kind: "CronJob"}: cronJobTable,

	{Group: "coordination.k8s.io", Kind: "Lease"}:                    leaseTable,
	{Group: "discovery.k8s.io", Kind: "EndpointSlice"}:               endpointSliceTable,
	{Group: "events.k8s.io", Kind: "Event"}:                          eventsEventTable,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                  storageClassTable,
	{Group: "policy", Kind: "PodDisruptionBudget"}:                   podDisruptionBudgetTable,
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:          hpaTable,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:              priorityClassTable,
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:        roleBindingTable,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: clusterRoleBindingTable,
}

// For returns the table of a kind, or nil for kinds that have no columns of their own (upstream prints
// those, e.g. Role, ClusterRole and LimitRange, with the generic NAME / CREATED AT table: Default).
// Tables are shared: callers must not modify them.
func For(gk schema.GroupKind) *registry.Table {
	return tables[gk]
}

// Default is the generic table used for any other kind. It is upstream's default table convertor:
// NAME and CREATED AT (an RFC 3339 UTC timestamp, not an age), which is what `kubectl get roles`,
// `kubectl get clusterroles` and `kubectl get limitranges` print.
func Default() *registry.Table {
	return defaultTable
}

var defaultTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Created At", Type: "date", Description: "When the object was created."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		return []interface{}{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}, nil
	},
}

// Column definitions that recur across kinds.
var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name",
		Description: "Name of the object, unique within its namespace (or cluster, for cluster-scoped kinds)."}
	ageColumn = metav1.TableColumnDefinition{Name: "Age", Type: "string",
		Description: "Time since the object was created."}
	containersColumn = metav1.TableColumnDefinition{Name: "Containers", Type: "string", Priority: 1,
		Description: "Names of the containers in the pod template."}
	imagesColumn = metav1.TableColumnDefinition{Name: "Images", Type: "string", Priority: 1,
		Description: "Images of the containers in the pod template."}
	selectorColumn = metav1.TableColumnDefinition{Name: "Selector", Type: "string", Priority: 1,
		Description: "Label selector of the pods the object manages."}
)

// rowFor adapts a typed cell function to registry.Table.Row.
func rowFor[T any, PT interface {
	*T
	runtime.Object
}](cells func(PT) []interface{}) func(runtime.Object) ([]interface{}, error) {
	return rowForErr(func(o PT) ([]interface{}, error) { return cells(o), nil })
}

// rowForErr is rowFor for cell functions that can fail. It also accepts the object as unstructured
// (as a generic handler may hold it), converting it to the typed struct first.
func rowForErr[T any, PT interface {
	*T
	runtime.Object
}](cells func(PT) ([]interface{}, error)) func(runtime.Object) ([]interface{}, error) {
	return func(obj runtime.Object) ([]interface{}, error) {
		switch o := obj.(type) {
		case PT:
			return cells(o)
		case *unstructured.Unstructured:
			typed := PT(new(T))
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.UnstructuredContent(), typed); err != nil {
				return nil, err
			}
			return cells(typed)
		}
		return nil, fmt.Errorf("printers: cannot print %T as %T", obj, PT(nil))
	}
}

// age is upstream's translateTimestampSince.
func age(t metav1.Time) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(now().Sub(t.Time))
}

func microAge(t metav1.MicroTime) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(now().Sub(t.Time))
}

// orNone substitutes the placeholder upstream shows for an empty cell.
func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// boolPtrCell renders an optional boolean the way upstream's CronJob SUSPEND column does.
func boolPtrCell(b *bool) string {
	switch {
	case b == nil:
		return unset
	case *b:
		return "True"
	default:
		return "False"
	}
}

// replicas reads an optional replica count with the API default of 1 (the value defaulting would have
// stored).
func replicas(p *int32) int64 {
	if p == nil {
		return 1
	}
	return int64(*p)
}

// listWithMore joins the first max items and counts the rest, as upstream's endpoint columns do.
func listWithMore(list []string, total, max int) string {
	s := strings.Join(list, ",")
	if total > max {
		return fmt.Sprintf("%s + %d more...", s, total-max)
	}
	return s
}
