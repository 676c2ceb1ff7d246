package printers

import (
	"encoding/json"
	"strings"
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// samples holds one object of every kind with a table; TestEveryKindHasASample keeps it complete.
func samples() map[schema.GroupKind][]runtime.Object {
	om := metav1.ObjectMeta{Name: "x", Namespace: "default", CreationTimestamp: ago(time.Hour), ResourceVersion: "7"}
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers("c")}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
	return map[schema.GroupKind][]runtime.Object{
		{Kind: "Pod"}:            {&corev1.Pod{ObjectMeta: om, Spec: tmpl.Spec}},
		{Kind: "PodTemplate"}:    {&corev1.PodTemplate{ObjectMeta: om, Template: tmpl}},
		{Kind: "Service"}:        {&corev1.Service{ObjectMeta: om, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}}},
		{Kind: "Endpoints"}:      {&corev1.Endpoints{ObjectMeta: om}},
		{Kind: "Node"}:           {&corev1.Node{ObjectMeta: om}},
		{Kind: "Namespace"}:      {&corev1.Namespace{ObjectMeta: om, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}},
		{Kind: "ConfigMap"}:      {&corev1.ConfigMap{ObjectMeta: om, Data: map[string]string{"a": "b"}, BinaryData: map[string][]byte{"c": nil}}},
		{Kind: "Secret"}:         {&corev1.Secret{ObjectMeta: om, Type: corev1.SecretTypeOpaque}},
		{Kind: "ServiceAccount"}: {&corev1.ServiceAccount{ObjectMeta: om}},
		{Kind: "Event"}:          {&corev1.Event{ObjectMeta: om}},
		{Kind: "PersistentVolume"}: {&corev1.PersistentVolume{ObjectMeta: om, Spec: corev1.PersistentVolumeSpec{
			ClaimRef: &corev1.ObjectReference{Namespace: "default", Name: "data"}}}},
		{Kind: "PersistentVolumeClaim"}:             {&corev1.PersistentVolumeClaim{ObjectMeta: om}},
		{Kind: "ResourceQuota"}:                     {&corev1.ResourceQuota{ObjectMeta: om}},
		{Group: "apps", Kind: "Deployment"}:         {&appsv1.Deployment{ObjectMeta: om, Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}},
		{Group: "apps", Kind: "ReplicaSet"}:         {&appsv1.ReplicaSet{ObjectMeta: om, Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}}},
		{Group: "apps", Kind: "StatefulSet"}:        {&appsv1.StatefulSet{ObjectMeta: om, Spec: appsv1.StatefulSetSpec{Template: tmpl}}},
		{Group: "apps", Kind: "DaemonSet"}:          {&appsv1.DaemonSet{ObjectMeta: om, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}},
		{Group: "apps", Kind: "ControllerRevision"}: {&appsv1.ControllerRevision{ObjectMeta: om}},
		{Group: "batch", Kind: "Job"}:               {&batchv1.Job{ObjectMeta: om, Spec: batchv1.JobSpec{Template: tmpl}}},
		{Group: "batch", Kind: "CronJob"}: {&batchv1.CronJob{ObjectMeta: om, Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *",
			Suspend: ptr(false), TimeZone: ptr("Etc/UTC")}}},
		{Group: "coordination.k8s.io", Kind: "Lease"}:      {&coordinationv1.Lease{ObjectMeta: om, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("n1")}}},
		{Group: "discovery.k8s.io", Kind: "EndpointSlice"}: {&discoveryv1.EndpointSlice{ObjectMeta: om}},
		{Group: "events.k8s.io", Kind: "Event"}:            {&eventsv1.Event{ObjectMeta: om}},
		{Group: "storage.k8s.io", Kind: "StorageClass"}:    {&storagev1.StorageClass{ObjectMeta: om}},
		{Group: "policy", Kind: "PodDisruptionBudget"}: {&policyv1.PodDisruptionBudget{ObjectMeta: om, Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr(intstr.FromString("50%"))}}},
		{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}: {
			&autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: om}, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: om}},
		{Group: "scheduling.k8s.io", Kind: "PriorityClass"}: {&schedulingv1.PriorityClass{ObjectMeta: om, Value: 1000}},
		{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}: {&rbacv1.RoleBinding{ObjectMeta: om,
			RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"}, Subjects: []rbacv1.Subject{
				{Kind: "User", Name: "alice"}, {Kind: "Group", Name: "devs"}, {Kind: "ServiceAccount", Namespace: "ci", Name: "bot"}, {Kind: "User", Name: "bob"}}}},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: {&rbacv1.ClusterRoleBinding{ObjectMeta: om}},
	}
}

func TestEveryKindHasASample(t *testing.T) {
	s := samples()
	for gk := range tables {
		if len(s[gk]) == 0 {
			t.Errorf("no sample object for %v", gk)
		}
	}
	for gk := range s {
		if For(gk) == nil {
			t.Errorf("sample for %v, which has no table", gk)
		}
	}
}

// TestRowsMatchColumns renders a sample of every kind through BuildTable: one cell per column, cells of
// JSON types only (a Table is deep-copied and marshalled), one NAME column formatted as a name.
func TestRowsMatchColumns(t *testing.T) {
	for gk, objs := range samples() {
		tbl := For(gk)
		names := 0
		for _, c := range tbl.Columns {
			if c.Name == "Name" {
				names++
				if c.Format != "name" {
					t.Errorf("%v: Name column without the name format", gk)
				}
			}
			if c.Description == "" || c.Type == "" {
				t.Errorf("%v: column %q lacks a type or description", gk, c.Name)
			}
		}
		if names != 1 {
			t.Errorf("%v: %d Name columns", gk, names)
		}
		for _, obj := range objs {
			table, err := BuildTable(tbl, obj, metav1.IncludeNone, false)
			if err != nil {
				t.Errorf("%v (%T): %v", gk, obj, err)
				continue
			}
			cells := table.Rows[0].Cells
			if len(cells) != len(tbl.Columns) {
				t.Errorf("%v (%T): %d cells for %d columns", gk, obj, len(cells), len(tbl.Columns))
			}
			for i, c := range cells {
				switch c.(type) {
				case string, int64, bool:
				default:
					t.Errorf("%v: cell %d (%s) is a %T", gk, i, tbl.Columns[i].Name, c)
				}
			}
			_ = table.DeepCopy() // panics on cell types a Table cannot hold
			if _, err := json.Marshal(table); err != nil {
				t.Errorf("%v: %v", gk, err)
			}
		}
	}
}

func TestSampleRows(t *testing.T) {
	s := samples()
	tests := []struct {
		gk   schema.GroupKind
		want []interface{}
	}{
		{schema.GroupKind{Kind: "ConfigMap"}, []interface{}{"x", int64(2), "60m"}},
		{schema.GroupKind{Kind: "PersistentVolume"}, []interface{}{"x", "0", "", "", "", "default/data", "", "<unset>", "", "60m", "<unset>"}},
		{schema.GroupKind{Group: "batch", Kind: "CronJob"}, []interface{}{"x", "*/5 * * * *", "Etc/UTC", "False", int64(0), "<none>", "60m", "", "", "<none>"}},
		{schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, []interface{}{"x", int64(0), int64(0), int64(0), int64(0), int64(0), "<none>", "60m", "c", "c:1", "a=b"}},
		{schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, []interface{}{"x", "0/1", "60m", "c", "c:1"}},
		{schema.GroupKind{Group: "coordination.k8s.io", Kind: "Lease"}, []interface{}{"x", "n1", "60m"}},
		{schema.GroupKind{Group: "policy", Kind: "PodDisruptionBudget"}, []interface{}{"x", "50%", "N/A", int64(0), "60m"}},
		{schema.GroupKind{Group: "scheduling.k8s.io", Kind: "PriorityClass"}, []interface{}{"x", int64(1000), false, "60m", ""}},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}, []interface{}{"x", "ClusterRole/edit", "60m", "alice, bob", "devs", "ci:bot"}},
		{schema.GroupKind{Kind: "PodTemplate"}, []interface{}{"x", "c", "c:1", "<none>"}},
	}
	for _, tt := range tests {
		cells, err := For(tt.gk).Row(s[tt.gk][0])
		if err != nil {
			t.Fatalf("%v: %v", tt.gk, err)
		}
		t.Run(tt.gk.String(), func(t *testing.T) { assertCells(t, cells, tt.want) })
	}
}

func TestDefaultTable(t *testing.T) {
	for _, gk := range []schema.GroupKind{
		{Group: "rbac.authorization.k8s.io", Kind: "Role"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"},
		{Kind: "LimitRange"},
		{Kind: "ReplicationController"},
	} {
		if For(gk) != nil {
			t.Errorf("%v has a table of its own; upstream prints it with the default one", gk)
		}
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader",
		CreationTimestamp: metav1.NewTime(time.Date(2026, 4, 30, 8, 15, 0, 0, time.FixedZone("X", 2*3600)))}}
	table, err := BuildTable(nil, role, metav1.IncludeNone, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{table.ColumnDefinitions[0].Name, table.ColumnDefinitions[1].Name}; got[0] != "Name" || got[1] != "Created At" {
		t.Errorf("columns %v", got)
	}
	assertCells(t, table.Rows[0].Cells, []interface{}{"reader", "2026-04-30T06:15:00Z"})
}

func podList() *corev1.PodList {
	mk := func(name string, phase corev1.PodPhase) corev1.Pod {
		return corev1.Pod{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "uid-" + "name", ResourceVersion: "5",
				Labels: map[string]string{"app": "web"}, CreationTimestamp: ago(time.Minute)},
			Spec:   corev1.PodSpec{Containers: containers("a")},
			Status: corev1.PodStatus{Phase: phase},
		}
	}
	remaining := int64(12)
	return &corev1.PodList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "tok", RemainingItemCount: &remaining},
		Items:    []corev1.Pod{mk("a", corev1.PodRunning), mk("b", corev1.PodSucceeded), mk("c", corev1.PodFailed)},
	}
}

func TestBuildTableList(t *testing.T) {
	table, err := BuildTable(For(schema.GroupKind{Kind: "Pod"}), podList(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	if table.APIVersion != "meta.k8s.io/v1" || table.Kind != "Table" {
		t.Errorf("type meta %v", table.TypeMeta)
	}
	if table.ResourceVersion != "42" || table.Continue != "tok" || table.RemainingItemCount == nil || *table.RemainingItemCount != 12 {
		t.Errorf("list meta %+v", table.ListMeta)
	}
	if len(table.ColumnDefinitions) != 9 || len(table.Rows) != 3 {
		t.Fatalf("%d columns, %d rows", len(table.ColumnDefinitions), len(table.Rows))
	}
	if c := table.Rows[0].Conditions; c != nil {
		t.Errorf("running pod row has conditions %v", c)
	}
	for i, reason := range map[int]string{1: "Succeeded", 2: "Failed"} {
		c := table.Rows[i].Conditions
		if len(c) != 1 || c[0].Type != metav1.RowCompleted || c[0].Status != metav1.ConditionTrue || c[0].Reason != reason {
			t.Errorf("row %d conditions %v", i, c)
		}
	}

	// The default policy is Metadata: a PartialObjectMetadata, in memory and as JSON.
	partial, ok := table.Rows[0].Object.Object.(*metav1.PartialObjectMetadata)
	if !ok || partial.Name != "a" || partial.Labels["app"] != "web" {
		t.Fatalf("row object %#v", table.Rows[0].Object.Object)
	}
	var decoded map[string]interface{}
	if err := json.Unmarshal(table.Rows[0].Object.Raw, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded["apiVersion"] != "meta.k8s.io/v1" || decoded["kind"] != "PartialObjectMetadata" {
		t.Errorf("row object JSON %s", table.Rows[0].Object.Raw)
	}
	if _, hasSpec := decoded["spec"]; hasSpec {
		t.Errorf("metadata row object carries the spec: %s", table.Rows[0].Object.Raw)
	}

	// Mutating the table's metadata must not reach the object it came from.
	list := podList()
	table, _ = BuildTable(For(schema.GroupKind{Kind: "Pod"}), list, metav1.IncludeMetadata, false)
	table.Rows[0].Object.Object.(*metav1.PartialObjectMetadata).Labels["app"] = "changed"
	if list.Items[0].Labels["app"] != "web" {
		t.Error("the row's metadata aliases the object's")
	}

	// The whole table marshals with the row objects inline.
	b, err := json.Marshal(table)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1"`) {
		t.Errorf("table JSON lacks the row objects: %s", b)
	}
}

func TestBuildTableIncludeAndHeaders(t *testing.T) {
	pods := For(schema.GroupKind{Kind: "Pod"})

	table, err := BuildTable(pods, podList(), metav1.IncludeNone, true)
	if err != nil {
		t.Fatal(err)
	}
	if table.ColumnDefinitions != nil {
		t.Errorf("noHeaders kept %d column definitions", len(table.ColumnDefinitions))
	}
	if o := table.Rows[0].Object; o.Object != nil || o.Raw != nil {
		t.Errorf("include=None row object %+v", o)
	}
	if len(table.Rows[0].Cells) != len(pods.Columns) {
		t.Error("noHeaders must not drop cells")
	}

	table, err = BuildTable(pods, podList(), metav1.IncludeObject, false)
	if err != nil {
		t.Fatal(err)
	}
	pod, ok := table.Rows[2].Object.Object.(*corev1.Pod)
	if !ok || pod.Name != "c" {
		t.Fatalf("include=Object row object %#v", table.Rows[2].Object.Object)
	}
	var decoded corev1.Pod
	if err := json.Unmarshal(table.Rows[2].Object.Raw, &decoded); err != nil || decoded.Kind != "Pod" || decoded.Status.Phase != corev1.PodFailed {
		t.Errorf("include=Object JSON %s (%v)", table.Rows[2].Object.Raw, err)
	}

	if _, err := BuildTable(pods, podList(), "Everything", false); err == nil {
		t.Error("an unknown includeObject policy must be an error")
	}
}

func TestBuildTableSingleObjectAndEmptyList(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", ResourceVersion: "99", CreationTimestamp: ago(48 * time.Hour)},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	table, err := BuildTable(For(schema.GroupKind{Kind: "Namespace"}), ns, metav1.IncludeMetadata, false)
	if err != nil {
		t.Fatal(err)
	}
	if table.ResourceVersion != "99" || len(table.Rows) != 1 {
		t.Fatalf("rv %q, %d rows", table.ResourceVersion, len(table.Rows))
	}
	assertCells(t, table.Rows[0].Cells, []interface{}{"prod", "Active", "2d"})

	table, err = BuildTable(For(schema.GroupKind{Kind: "Namespace"}), &corev1.NamespaceList{ListMeta: metav1.ListMeta{ResourceVersion: "100"}}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(table)
	if !strings.Contains(string(b), `"rows":[]`) || table.ResourceVersion != "100" {
		t.Errorf("empty list table %s", b)
	}
}

func TestBuildTableUnstructured(t *testing.T) {
	list := &unstructured.UnstructuredList{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ServiceList", "metadata": map[string]interface{}{"resourceVersion": "8"}}}
	list.Items = append(list.Items, unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]interface{}{"name": "web", "creationTimestamp": testNow.Add(-90 * time.Second).Format(time.RFC3339)},
		"spec": map[string]interface{}{"type": "NodePort", "clusterIPs": []interface{}{"10.96.0.5"},
			"ports": []interface{}{map[string]interface{}{"port": int64(80), "nodePort": int64(30001), "protocol": "TCP"}}},
	}})
	table, err := BuildTable(For(schema.GroupKind{Kind: "Service"}), list, metav1.IncludeMetadata, false)
	if err != nil {
		t.Fatal(err)
	}
	if table.ResourceVersion != "8" {
		t.Errorf("rv %q", table.ResourceVersion)
	}
	assertCells(t, table.Rows[0].Cells, []interface{}{"web", "NodePort", "10.96.0.5", "<none>", "80:30001/TCP", "90s", "<none>"})

	hpa := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": map[string]interface{}{"name": "h"},
		"spec": map[string]interface{}{"scaleTargetRef": map[string]interface{}{"kind": "Deployment", "name": "web"},
			"maxReplicas": int64(5), "targetCPUUtilizationPercentage": int64(70)}}}
	cells, err := hpaTable.Row(hpa)
	if err != nil {
		t.Fatal(err)
	}
	assertCells(t, cells, []interface{}{"h", "Deployment/web", "cpu: <unknown>/70%", "<unset>", int64(5), int64(0), "<unknown>"})

	if _, err := podTable.Row(&corev1.Service{}); err == nil {
		t.Error("a Service rendered as a Pod must be an error")
	}
}
