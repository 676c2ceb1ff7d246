package integration

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
)

var (
	podSpec   = corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}
	selLabels = map[string]string{"app": "x"}
	template  = corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: selLabels}, Spec: podSpec}
)

func jobTemplate() corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{Spec: *podSpec.DeepCopy()}
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return t
}

// crudCase is one served resource and a minimal valid object of it (its name is set by the test).
type crudCase struct {
	gvr        schema.GroupVersionResource
	namespaced bool
	obj        runtime.Object
}

func crudCases(ns string) []crudCase {
	gv := func(g, v, r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: g, Version: v, Resource: r}
	}
	now := metav1.NewMicroTime(time.Now())
	return []crudCase{
		{gv("", "v1", "namespaces"), false, &corev1.Namespace{}},
		{gv("", "v1", "pods"), true, &corev1.Pod{Spec: podSpec}},
		{gv("", "v1", "services"), true, &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}},
		{gv("", "v1", "endpoints"), true, &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.1.2.3"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}}},
		{gv("", "v1", "configmaps"), true, &corev1.ConfigMap{Data: map[string]string{"k": "v"}}},
		{gv("", "v1", "secrets"), true, &corev1.Secret{Data: map[string][]byte{"k": []byte("v")}}},
		{gv("", "v1", "nodes"), false, &corev1.Node{}},
		{gv("", "v1", "events"), true, &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns},
			Reason: "Test", Message: "m", Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "test"}}},
		{gv("", "v1", "serviceaccounts"), true, &corev1.ServiceAccount{}},
		{gv("", "v1", "persistentvolumes"), false, &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/pv"}}}}},
		{gv("", "v1", "persistentvolumeclaims"), true, &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}},
		{gv("", "v1", "resourcequotas"), true, &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{
			Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}}}},
		{gv("", "v1", "limitranges"), true, &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}},
		{gv("", "v1", "podtemplates"), true, &corev1.PodTemplate{Template: template}},
		{gv("apps", "v1", "deployments"), true, &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selLabels}, Template: template}}},
		{gv("apps", "v1", "replicasets"), true, &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selLabels}, Template: template}}},
		{gv("apps", "v1", "statefulsets"), true, &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selLabels}, Template: template, ServiceName: "s"}}},
		{gv("apps", "v1", "daemonsets"), true, &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selLabels}, Template: template}}},
		{gv("apps", "v1", "controllerrevisions"), true, &appsv1.ControllerRevision{Revision: 1, Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}}},
		{gv("batch", "v1", "jobs"), true, &batchv1.Job{Spec: batchv1.JobSpec{Template: jobTemplate()}}},
		{gv("batch", "v1", "cronjobs"), true, &batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTemplate()}}}}},
		{gv("coordination.k8s.io", "v1", "leases"), true, &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("me")}}},
		{gv("discovery.k8s.io", "v1", "endpointslices"), true, &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.2.3"}}}}},
		{gv("events.k8s.io", "v1", "events"), true, &eventsv1.Event{EventTime: now, ReportingController: "skiff.dev/test",
			ReportingInstance: "test-1", Action: "Testing", Reason: "Test", Type: corev1.EventTypeNormal,
			Regarding: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns}}},
		{gv("storage.k8s.io", "v1", "storageclasses"), false, &storagev1.StorageClass{Provisioner: "skiff.dev/test"}},
		{gv("policy", "v1", "poddisruptionbudgets"), true, &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: selLabels}}}},
		{gv("autoscaling", "v1", "horizontalpodautoscalers"), true, &autoscalingv1.HorizontalPodAutoscaler{Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "d", APIVersion: "apps/v1"}, MaxReplicas: 3}}},
		{gv("autoscaling", "v2", "horizontalpodautoscalers"), true, &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "d", APIVersion: "apps/v1"}, MaxReplicas: 3}}},
		{gv("scheduling.k8s.io", "v1", "priorityclasses"), false, &schedulingv1.PriorityClass{Value: 1000}},
		{gv("rbac.authorization.k8s.io", "v1", "roles"), true, &rbacv1.Role{Rules: []rbacv1.PolicyRule{{
			Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}},
		{gv("rbac.authorization.k8s.io", "v1", "rolebindings"), true, &rbacv1.RoleBinding{
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "r"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice", APIGroup: "rbac.authorization.k8s.io"}}}},
		{gv("rbac.authorization.k8s.io", "v1", "clusterroles"), false, &rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{{
			Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}},
		{gv("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), false, &rbacv1.ClusterRoleBinding{
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "r"},
			Subjects: []rbacv1.Subject{{Kind: "Group", Name: "devs", APIGroup: "rbac.authorization.k8s.io"}}}},
	}
}

func toUnstructured(t testing.TB, obj runtime.Object, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u
}

// TestCRUDEveryResource creates, reads, lists, updates and deletes one object of every served
// resource through the dynamic client, with the discovery document naming each kind.
func TestCRUDEveryResource(t *testing.T) {
	e := newEnv(t)
	kinds := map[schema.GroupVersionResource]string{}
	_, all, err := e.cs.Discovery().ServerGroupsAndResources()
	must(t, err)
	for _, l := range all {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, r := range l.APIResources {
			kinds[gv.WithResource(r.Name)] = r.Kind
		}
	}
	cases := crudCases(e.ns)
	covered := map[schema.GroupVersionResource]bool{}
	for _, c := range cases {
		covered[c.gvr] = true
	}
	for gvr := range kinds {
		if gvr.Resource != "" && !covered[gvr] && !isSubresource(gvr.Resource) {
			t.Errorf("discovery serves %s, which this test does not cover", gvr)
		}
	}
	for _, c := range cases {
		t.Run(c.gvr.Group+"/"+c.gvr.Version+"/"+c.gvr.Resource, func(t *testing.T) {
			kind, ok := kinds[c.gvr]
			if !ok {
				t.Fatalf("%s is not in discovery", c.gvr)
			}
			gvk := c.gvr.GroupVersion().WithKind(kind)
			u := toUnstructured(t, c.obj, gvk)
			name := "crud-" + c.gvr.Version + "-" + c.gvr.Resource
			if c.gvr.Resource == "namespaces" {
				name = e.ns + "-x"
			}
			u.SetName(name)
			var rc dynamic.ResourceInterface = e.dyn.Resource(c.gvr)
			if c.namespaced {
				rc = e.dyn.Resource(c.gvr).Namespace(e.ns)
			}

			created, err := rc.Create(e.ctx, u, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if created.GetUID() == "" || created.GetResourceVersion() == "" || created.GetCreationTimestamp().Time.IsZero() {
				t.Fatalf("create did not fill uid/resourceVersion/creationTimestamp: %v", created.Object["metadata"])
			}
			if created.GetKind() != kind || created.GetAPIVersion() != c.gvr.GroupVersion().String() {
				t.Fatalf("create answered %s %s, want %s %s", created.GetAPIVersion(), created.GetKind(), c.gvr.GroupVersion(), kind)
			}
			if c.namespaced && created.GetNamespace() != e.ns {
				t.Fatalf("namespace %q, want %q", created.GetNamespace(), e.ns)
			}
			if !c.namespaced && created.GetNamespace() != "" {
				t.Fatalf("cluster-scoped object got namespace %q", created.GetNamespace())
			}
			_, err = rc.Create(e.ctx, u, metav1.CreateOptions{})
			wantStatus(t, err, 409, metav1.StatusReasonAlreadyExists)

			got, err := rc.Get(e.ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if got.GetUID() != created.GetUID() || got.GetResourceVersion() != created.GetResourceVersion() {
				t.Fatalf("get returned uid %s rv %s, created uid %s rv %s", got.GetUID(), got.GetResourceVersion(), created.GetUID(), created.GetResourceVersion())
			}

			list, err := rc.List(e.ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if len(list.Items) != 1 || list.Items[0].GetName() != name {
				t.Fatalf("list by name found %d items", len(list.Items))
			}
			if list.GetKind() != kind+"List" || list.GetResourceVersion() == "" {
				t.Fatalf("list kind %q rv %q", list.GetKind(), list.GetResourceVersion())
			}

			got.SetLabels(map[string]string{"updated": "yes"})
			updated, err := rc.Update(e.ctx, got, metav1.UpdateOptions{})
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if updated.GetLabels()["updated"] != "yes" || updated.GetResourceVersion() == got.GetResourceVersion() {
				t.Fatalf("update: labels %v rv %s (was %s)", updated.GetLabels(), updated.GetResourceVersion(), got.GetResourceVersion())
			}
			if updated.GetGeneration() != got.GetGeneration() {
				t.Fatalf("a label change moved generation %d -> %d", got.GetGeneration(), updated.GetGeneration())
			}
			// A stale resourceVersion conflicts.
			_, err = rc.Update(e.ctx, got, metav1.UpdateOptions{})
			wantStatus(t, err, 409, metav1.StatusReasonConflict)

			must(t, rc.Delete(e.ctx, name, metav1.DeleteOptions{}))
			if c.gvr.Resource == "namespaces" {
				// Namespaces linger as Terminating while spec.finalizers holds them.
				ns, err := rc.Get(e.ctx, name, metav1.GetOptions{})
				must(t, err)
				if ns.GetDeletionTimestamp() == nil {
					t.Fatal("deleted namespace has no deletionTimestamp")
				}
				return
			}
			if c.gvr.Resource == "persistentvolumes" || c.gvr.Resource == "persistentvolumeclaims" {
				// StorageObjectInUseProtection added its finalizer: the object waits, marked, for
				// the protection controller; removing the finalizer completes the delete.
				obj, err := rc.Get(e.ctx, name, metav1.GetOptions{})
				must(t, err)
				if obj.GetDeletionTimestamp() == nil || len(obj.GetFinalizers()) != 1 {
					t.Fatalf("protected %s: deletionTimestamp %v finalizers %v", c.gvr.Resource, obj.GetDeletionTimestamp(), obj.GetFinalizers())
				}
				obj.SetFinalizers(nil)
				_, err = rc.Update(e.ctx, obj, metav1.UpdateOptions{})
				must(t, err)
			}
			_, err = rc.Get(e.ctx, name, metav1.GetOptions{})
			wantStatus(t, err, 404, metav1.StatusReasonNotFound)
			err = rc.Delete(e.ctx, name, metav1.DeleteOptions{})
			wantStatus(t, err, 404, metav1.StatusReasonNotFound)
		})
	}
}

func isSubresource(r string) bool {
	for _, c := range r {
		if c == '/' {
			return true
		}
	}
	return false
}

// TestHPAOneStorageTwoVersions creates through autoscaling/v1 and reads through v2 and back.
func TestHPAOneStorageTwoVersions(t *testing.T) {
	e := newEnv(t)
	v1 := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "h"}, Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "d", APIVersion: "apps/v1"},
		MinReplicas:    ptr(int32(2)), MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr(int32(70))}}
	created, err := e.cs.AutoscalingV1().HorizontalPodAutoscalers(e.ns).Create(e.ctx, v1, metav1.CreateOptions{})
	must(t, err)
	v2, err := e.cs.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Get(e.ctx, "h", metav1.GetOptions{})
	must(t, err)
	if v2.UID != created.UID || v2.ResourceVersion != created.ResourceVersion {
		t.Fatalf("v2 view is another object: uid %s rv %s vs %s %s", v2.UID, v2.ResourceVersion, created.UID, created.ResourceVersion)
	}
	if len(v2.Spec.Metrics) != 1 || v2.Spec.Metrics[0].Resource == nil || v2.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		v2.Spec.Metrics[0].Resource.Target.AverageUtilization == nil || *v2.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 {
		t.Fatalf("v2 metrics %+v, want cpu utilization 70", v2.Spec.Metrics)
	}
	if *v2.Spec.MinReplicas != 2 || v2.Spec.MaxReplicas != 5 {
		t.Fatalf("v2 replicas %d..%d", *v2.Spec.MinReplicas, v2.Spec.MaxReplicas)
	}
	v2.Spec.MaxReplicas = 7
	up, err := e.cs.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Update(e.ctx, v2, metav1.UpdateOptions{FieldManager: "v2-writer"})
	must(t, err)
	// The v1 creator's entry is converted, not lost, and the v2 writer gets its own.
	managers := map[string]string{}
	for _, f := range up.ManagedFields {
		managers[f.Manager] = f.APIVersion
	}
	if managers["v2-writer"] != "autoscaling/v2" || len(managers) != 2 {
		t.Fatalf("managedFields after a v2 update of a v1-created HPA: %v", managers)
	}
	back, err := e.cs.AutoscalingV1().HorizontalPodAutoscalers(e.ns).Get(e.ctx, "h", metav1.GetOptions{})
	must(t, err)
	if back.Spec.MaxReplicas != 7 || back.Spec.TargetCPUUtilizationPercentage == nil || *back.Spec.TargetCPUUtilizationPercentage != 70 {
		t.Fatalf("v1 after v2 update: max %d cpu %v", back.Spec.MaxReplicas, back.Spec.TargetCPUUtilizationPercentage)
	}
	l, err := e.cs.AutoscalingV1().HorizontalPodAutoscalers(e.ns).List(e.ctx, metav1.ListOptions{})
	must(t, err)
	if len(l.Items) != 1 || l.Items[0].Spec.MaxReplicas != 7 {
		t.Fatalf("v1 list: %+v", l.Items)
	}
}

// TestEventsTwoViews reads one event through core/v1 and events.k8s.io/v1.
func TestEventsTwoViews(t *testing.T) {
	e := newEnv(t)
	ev := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "ev"}, EventTime: metav1.NewMicroTime(time.Now()),
		ReportingController: "skiff.dev/test", ReportingInstance: "i", Action: "Act", Reason: "Why", Note: "hello",
		Type: corev1.EventTypeWarning, Regarding: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: e.ns}}
	created, err := e.cs.EventsV1().Events(e.ns).Create(e.ctx, ev, metav1.CreateOptions{})
	must(t, err)
	core, err := e.cs.CoreV1().Events(e.ns).Get(e.ctx, "ev", metav1.GetOptions{})
	must(t, err)
	if core.UID != created.UID || core.Message != "hello" || core.Reason != "Why" || core.InvolvedObject.Name != "p" ||
		core.Type != corev1.EventTypeWarning || core.ReportingController != "skiff.dev/test" || core.Action != "Act" {
		t.Fatalf("core view: %+v", core)
	}
	// And the other way: a core event appears in events.k8s.io with note and regarding.
	cev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "cev"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "n1", Namespace: e.ns},
		Reason: "Booted", Message: "up", Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "kubelet", Host: "n1"}}
	_, err = e.cs.CoreV1().Events(e.ns).Create(e.ctx, cev, metav1.CreateOptions{})
	must(t, err)
	nev, err := e.cs.EventsV1().Events(e.ns).Get(e.ctx, "cev", metav1.GetOptions{})
	must(t, err)
	if nev.Note != "up" || nev.Regarding.Name != "n1" || nev.Reason != "Booted" || nev.DeprecatedSource.Component != "kubelet" {
		t.Fatalf("events.k8s.io view: %+v", nev)
	}
	list, err := e.cs.EventsV1().Events(e.ns).List(e.ctx, metav1.ListOptions{})
	must(t, err)
	if len(list.Items) != 2 {
		t.Fatalf("events.k8s.io list has %d items, want 2", len(list.Items))
	}
	must(t, e.cs.EventsV1().Events(e.ns).Delete(e.ctx, "cev", metav1.DeleteOptions{}))
	_, err = e.cs.CoreV1().Events(e.ns).Get(e.ctx, "cev", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("core get after events.k8s.io delete: %v", err)
	}
}
