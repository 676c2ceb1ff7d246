package resources

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/skiff-dev/skiff/internal/apiserver/printers"
	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/configmap"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/controllerrevision"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/cronjob"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/daemonset"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/deployment"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/endpoints"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/endpointslice"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/event"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/horizontalpodautoscaler"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/job"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/lease"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/limitrange"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/namespace"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/node"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/persistentvolume"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/persistentvolumeclaim"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/pod"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/poddisruptionbudget"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/podtemplate"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/priorityclass"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/rbac"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/replicaset"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/resourcequota"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/secret"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/service"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/serviceaccount"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/statefulset"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/storageclass"
	"github.com/skiff-dev/skiff/internal/apiserver/scheme"
)

func init() {
	// The HPA is served in two versions over one storage; managed fields recorded through one
	// version are converted when the other writes.
	utilruntime.Must(horizontalpodautoscaler.RegisterConversions(scheme.Scheme))
}

// Options tune the catalog.
type Options struct {
	// EventTTL is how long events live (upstream's --event-ttl, 1 h by default).
	EventTTL time.Duration
}

type spec struct {
	gv         schema.GroupVersion
	resource   string
	kind       string
	singular   string
	short      []string
	all        bool // in the "all" category
	namespaced bool
	status     bool
}

func (s spec) build() *registry.Resource {
	r := &registry.Resource{
		GroupVersionResource: s.gv.WithResource(s.resource),
		Kind:                 s.kind,
		SingularName:         s.singular,
		ShortNames:           s.short,
		Namespaced:           s.namespaced,
		Status:               s.status,
		Table:                printers.For(schema.GroupKind{Group: s.gv.Group, Kind: s.kind}),
	}
	if s.all {
		r.Categories = []string{"all"}
	}
	return r
}

var (
	core        = schema.GroupVersion{Version: "v1"}
	apps        = schema.GroupVersion{Group: "apps", Version: "v1"}
	batch       = schema.GroupVersion{Group: "batch", Version: "v1"}
	coordV1     = schema.GroupVersion{Group: "coordination.k8s.io", Version: "v1"}
	discoveryV1 = schema.GroupVersion{Group: "discovery.k8s.io", Version: "v1"}
	eventsV1    = schema.GroupVersion{Group: "events.k8s.io", Version: "v1"}
	storageV1   = schema.GroupVersion{Group: "storage.k8s.io", Version: "v1"}
	policyV1    = schema.GroupVersion{Group: "policy", Version: "v1"}
	autoV1      = schema.GroupVersion{Group: "autoscaling", Version: "v1"}
	autoV2      = schema.GroupVersion{Group: "autoscaling", Version: "v2"}
	schedV1     = schema.GroupVersion{Group: "scheduling.k8s.io", Version: "v1"}
	rbacV1      = schema.GroupVersion{Group: "rbac.authorization.k8s.io", Version: "v1"}
)

// All returns every resource skiff serves, in discovery order.
func All(opts Options) []*registry.Resource {
	if opts.EventTTL == 0 {
		opts.EventTTL = time.Hour
	}
	specs := []spec{
		{core, "namespaces", "Namespace", "namespace", []string{"ns"}, false, false, true},
		{core, "pods", "Pod", "pod", []string{"po"}, true, true, true},
		{core, "services", "Service", "service", []string{"svc"}, true, true, true},
		{core, "endpoints", "Endpoints", "endpoints", []string{"ep"}, false, true, false},
		{core, "configmaps", "ConfigMap", "configmap", []string{"cm"}, false, true, false},
		{core, "secrets", "Secret", "secret", nil, false, true, false},
		{core, "nodes", "Node", "node", []string{"no"}, false, false, true},
		{core, "events", "Event", "event", []string{"ev"}, false, true, false},
		{core, "serviceaccounts", "ServiceAccount", "serviceaccount", []string{"sa"}, false, true, false},
		{core, "persistentvolumes", "PersistentVolume", "persistentvolume", []string{"pv"}, false, false, true},
		{core, "persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim", []string{"pvc"}, false, true, true},
		{core, "resourcequotas", "ResourceQuota", "resourcequota", []string{"quota"}, false, true, true},
		{core, "limitranges", "LimitRange", "limitrange", []string{"limits"}, false, true, false},
		{core, "podtemplates", "PodTemplate", "podtemplate", nil, false, true, false},
		{apps, "deployments", "Deployment", "deployment", []string{"deploy"}, true, true, true},
		{apps, "replicasets", "ReplicaSet", "replicaset", []string{"rs"}, true, true, true},
		{apps, "statefulsets", "StatefulSet", "statefulset", []string{"sts"}, true, true, true},
		{apps, "daemonsets", "DaemonSet", "daemonset", []string{"ds"}, true, true, true},
		{apps, "controllerrevisions", "ControllerRevision", "controllerrevision", nil, false, true, false},
		{batch, "jobs", "Job", "job", nil, true, true, true},
		{batch, "cronjobs", "CronJob", "cronjob", []string{"cj"}, true, true, true},
		{coordV1, "leases", "Lease", "lease", nil, false, true, false},
		{discoveryV1, "endpointslices", "EndpointSlice", "endpointslice", nil, false, true, false},
		{eventsV1, "events", "Event", "event", []string{"ev"}, false, true, false},
		{storageV1, "storageclasses", "StorageClass", "storageclass", []string{"sc"}, false, false, false},
		{policyV1, "poddisruptionbudgets", "PodDisruptionBudget", "poddisruptionbudget", []string{"pdb"}, false, true, true},
		{autoV2, "horizontalpodautoscalers", "HorizontalPodAutoscaler", "horizontalpodautoscaler", []string{"hpa"}, true, true, true},
		{autoV1, "horizontalpodautoscalers", "HorizontalPodAutoscaler", "horizontalpodautoscaler", []string{"hpa"}, true, true, true},
		{schedV1, "priorityclasses", "PriorityClass", "priorityclass", []string{"pc"}, false, false, false},
		{rbacV1, "roles", "Role", "role", nil, false, true, false},
		{rbacV1, "rolebindings", "RoleBinding", "rolebinding", nil, false, true, false},
		{rbacV1, "clusterroles", "ClusterRole", "clusterrole", nil, false, false, false},
		{rbacV1, "clusterrolebindings", "ClusterRoleBinding", "clusterrolebinding", nil, false, false, false},
	}
	var out []*registry.Resource
	for _, s := range specs {
		r := s.build()
		wire(r, opts)
		out = append(out, r)
	}
	return out
}

// strategies maps each resource to its strategy.
var strategies = map[schema.GroupResource]func() registry.Strategy{
	{Resource: "namespaces"}:                                              namespace.Strategy,
	{Resource: "pods"}:                                                    pod.Strategy,
	{Resource: "services"}:                                                service.Strategy,
	{Resource: "endpoints"}:                                               endpoints.Strategy,
	{Resource: "configmaps"}:                                              configmap.Strategy,
	{Resource: "secrets"}:                                                 secret.Strategy,
	{Resource: "nodes"}:                                                   node.Strategy,
	{Resource: "events"}:                                                  event.Strategy,
	{Resource: "serviceaccounts"}:                                         serviceaccount.Strategy,
	{Resource: "persistentvolumes"}:                                       persistentvolume.Strategy,
	{Resource: "persistentvolumeclaims"}:                                  persistentvolumeclaim.Strategy,
	{Resource: "resourcequotas"}:                                          resourcequota.Strategy,
	{Resource: "limitranges"}:                                             limitrange.Strategy,
	{Resource: "podtemplates"}:                                            podtemplate.Strategy,
	{Group: "apps", Resource: "deployments"}:                              deployment.Strategy,
	{Group: "apps", Resource: "replicasets"}:                              replicaset.Strategy,
	{Group: "apps", Resource: "statefulsets"}:                             statefulset.Strategy,
	{Group: "apps", Resource: "daemonsets"}:                               daemonset.Strategy,
	{Group: "apps", Resource: "controllerrevisions"}:                      controllerrevision.Strategy,
	{Group: "batch", Resource: "jobs"}:                                    job.Strategy,
	{Group: "batch", Resource: "cronjobs"}:                                cronjob.Strategy,
	{Group: "coordination.k8s.io", Resource: "leases"}:                    lease.Strategy,
	{Group: "discovery.k8s.io", Resource: "endpointslices"}:               endpointslice.Strategy,
	{Group: "events.k8s.io", Resource: "events"}:                          event.EventsV1Strategy,
	{Group: "storage.k8s.io", Resource: "storageclasses"}:                 storageclass.Strategy,
	{Group: "policy", Resource: "poddisruptionbudgets"}:                   poddisruptionbudget.Strategy,
	{Group: "autoscaling", Resource: "horizontalpodautoscalers"}:          horizontalpodautoscaler.Strategy,
	{Group: "scheduling.k8s.io", Resource: "priorityclasses"}:             priorityclass.Strategy,
	{Group: "rbac.authorization.k8s.io", Resource: "roles"}:               rbac.RoleStrategy,
	{Group: "rbac.authorization.k8s.io", Resource: "rolebindings"}:        rbac.RoleBindingStrategy,
	{Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}:        rbac.ClusterRoleStrategy,
	{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}: rbac.ClusterRoleBindingStrategy,
}

// wire attaches the per-resource behaviour.
func wire(r *registry.Resource, opts Options) {
	gr := r.GroupResource()
	if f := strategies[gr]; f != nil {
		r.Strategy = f()
	}
	switch r.GroupVersion() {
	case eventsV1:
		// One storage for both versions of Event: core/v1's keys.
		r.StorageVersion = core
		r.StorageResource = schema.GroupResource{Resource: "events"}
		r.ToStorage, r.FromStorage = event.ToStorage, event.FromStorage
	case autoV1:
		r.StorageVersion = autoV2
		r.ToStorage, r.FromStorage = horizontalpodautoscaler.ToStorage, horizontalpodautoscaler.FromStorage
	}
	switch gr.Group {
	case "rbac.authorization.k8s.io":
		r.NameValidation = pathSegmentName
	}
	switch gr {
	case schema.GroupResource{Resource: "namespaces"}:
		r.NameValidation = apivalidation.NameIsDNSLabel
		r.Verbs = []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	case schema.GroupResource{Resource: "nodes"}:
		r.KeepStatusOnCreate = true
	case schema.GroupResource{Resource: "services"}:
		r.NameValidation = apivalidation.NameIsDNS1035Label
		r.Verbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	case schema.GroupResource{Resource: "events"}, schema.GroupResource{Group: "events.k8s.io", Resource: "events"}:
		ttl := int64(opts.EventTTL / time.Second)
		r.TTL = func(runtime.Object) int64 { return ttl }
		r.AllowCreateOnUpdate = true
	case schema.GroupResource{Resource: "endpoints"}, schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"},
		schema.GroupResource{Resource: "limitranges"}:
		r.AllowCreateOnUpdate = true
	case schema.GroupResource{Group: "apps", Resource: "deployments"}:
		r.Scale = replicasScale(
			func(o runtime.Object) (*int32, *metav1.LabelSelector, int32) {
				d := o.(*appsv1.Deployment)
				return d.Spec.Replicas, d.Spec.Selector, d.Status.Replicas
			},
			func(o runtime.Object, n int32) { o.(*appsv1.Deployment).Spec.Replicas = &n })
	case schema.GroupResource{Group: "apps", Resource: "replicasets"}:
		r.Scale = replicasScale(
			func(o runtime.Object) (*int32, *metav1.LabelSelector, int32) {
				d := o.(*appsv1.ReplicaSet)
				return d.Spec.Replicas, d.Spec.Selector, d.Status.Replicas
			},
			func(o runtime.Object, n int32) { o.(*appsv1.ReplicaSet).Spec.Replicas = &n })
	case schema.GroupResource{Group: "apps", Resource: "statefulsets"}:
		r.Scale = replicasScale(
			func(o runtime.Object) (*int32, *metav1.LabelSelector, int32) {
				d := o.(*appsv1.StatefulSet)
				return d.Spec.Replicas, d.Spec.Selector, d.Status.Replicas
			},
			func(o runtime.Object, n int32) { o.(*appsv1.StatefulSet).Spec.Replicas = &n })
	}
}

func pathSegmentName(name string, prefix bool) []string {
	return path.IsValidPathSegmentName(name)
}

func replicasScale(get func(runtime.Object) (*int32, *metav1.LabelSelector, int32), set func(runtime.Object, int32)) *registry.ScaleAccess {
	return &registry.ScaleAccess{
		SpecReplicas: func(o runtime.Object) int32 {
			if n, _, _ := get(o); n != nil {
				return *n
			}
			return 1
		},
		SetSpecReplicas: set,
		StatusReplicas:  func(o runtime.Object) int32 { _, _, n := get(o); return n },
		Selector: func(o runtime.Object) (string, error) {
			_, sel, _ := get(o)
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil {
				return "", err
			}
			return s.String(), nil
		},
	}
}
