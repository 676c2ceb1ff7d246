package integration

import (
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rvOf(t testing.TB, rv string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q is not a number: %v", rv, err)
	}
	return n
}

func TestObjectMetaSemantics(t *testing.T) {
	e := newEnv(t)
	cms := e.cs.CoreV1().ConfigMaps(e.ns)

	t.Run("generateName", func(t *testing.T) {
		a, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
		must(t, err)
		b, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
		must(t, err)
		if !strings.HasPrefix(a.Name, "gen-") || len(a.Name) != len("gen-")+5 || a.Name == b.Name {
			t.Fatalf("generated names %q, %q", a.Name, b.Name)
		}
		if a.GenerateName != "gen-" || a.UID == "" || a.UID == b.UID || a.CreationTimestamp.IsZero() {
			t.Fatalf("generated object meta: %+v", a.ObjectMeta)
		}
	})

	t.Run("resourceVersion increases and stale writes conflict", func(t *testing.T) {
		cm, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "rv"}}, metav1.CreateOptions{})
		must(t, err)
		prev := rvOf(t, cm.ResourceVersion)
		stale := cm.DeepCopy()
		for i := 0; i < 3; i++ {
			cm.Data = map[string]string{"i": strconv.Itoa(i)}
			cm, err = cms.Update(e.ctx, cm, metav1.UpdateOptions{})
			must(t, err)
			if rv := rvOf(t, cm.ResourceVersion); rv <= prev {
				t.Fatalf("resourceVersion went %d -> %d", prev, rv)
			} else {
				prev = rv
			}
		}
		stale.Data = map[string]string{"stale": "1"}
		_, err = cms.Update(e.ctx, stale, metav1.UpdateOptions{})
		st := wantStatus(t, err, 409, metav1.StatusReasonConflict)
		if !strings.Contains(st.Message, "the object has been modified") {
			t.Fatalf("conflict message %q", st.Message)
		}
		// A no-op update keeps the resourceVersion.
		same, err := cms.Update(e.ctx, cm, metav1.UpdateOptions{})
		must(t, err)
		if same.ResourceVersion != cm.ResourceVersion {
			t.Fatalf("no-op update moved resourceVersion %s -> %s", cm.ResourceVersion, same.ResourceVersion)
		}
		// Server-owned fields in an update are ignored.
		cm.UID, cm.CreationTimestamp = "forged", metav1.Now()
		_, err = cms.Update(e.ctx, cm, metav1.UpdateOptions{})
		if err == nil {
			got, _ := cms.Get(e.ctx, "rv", metav1.GetOptions{})
			if got.UID == "forged" {
				t.Fatal("update changed the uid")
			}
		}
	})

	t.Run("generation moves only with spec", func(t *testing.T) {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "gen"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selLabels}, Template: template}}
		d, err := e.cs.AppsV1().Deployments(e.ns).Create(e.ctx, d, metav1.CreateOptions{})
		must(t, err)
		if d.Generation != 1 {
			t.Fatalf("new deployment generation %d", d.Generation)
		}
		d.Labels = map[string]string{"l": "1"}
		d, err = e.cs.AppsV1().Deployments(e.ns).Update(e.ctx, d, metav1.UpdateOptions{})
		must(t, err)
		if d.Generation != 1 {
			t.Fatalf("label change moved generation to %d", d.Generation)
		}
		d.Status.ObservedGeneration = 7
		d, err = e.cs.AppsV1().Deployments(e.ns).UpdateStatus(e.ctx, d, metav1.UpdateOptions{})
		must(t, err)
		if d.Generation != 1 || d.Status.ObservedGeneration != 7 {
			t.Fatalf("status update: generation %d observed %d", d.Generation, d.Status.ObservedGeneration)
		}
		d.Spec.Replicas = ptr(int32(4))
		d, err = e.cs.AppsV1().Deployments(e.ns).Update(e.ctx, d, metav1.UpdateOptions{})
		must(t, err)
		if d.Generation != 2 {
			t.Fatalf("spec change: generation %d, want 2", d.Generation)
		}
	})

	t.Run("not found and already exists", func(t *testing.T) {
		_, err := cms.Get(e.ctx, "missing", metav1.GetOptions{})
		st := wantStatus(t, err, 404, metav1.StatusReasonNotFound)
		if st.Details == nil || st.Details.Name != "missing" || st.Details.Kind != "configmaps" || st.Message != `configmaps "missing" not found` {
			t.Fatalf("not found status: %+v", st)
		}
		_, err = cms.Update(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "missing"}}, metav1.UpdateOptions{})
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)
		_, err = cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dup"}}, metav1.CreateOptions{})
		must(t, err)
		_, err = cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dup"}}, metav1.CreateOptions{})
		st = wantStatus(t, err, 409, metav1.StatusReasonAlreadyExists)
		if st.Message != `configmaps "dup" already exists` {
			t.Fatalf("already exists message %q", st.Message)
		}
		_, err = e.cs.CoreV1().ConfigMaps("no-such-namespace-x").Get(e.ctx, "x", metav1.GetOptions{})
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)
	})

	t.Run("invalid objects name their fields", func(t *testing.T) {
		_, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, metav1.CreateOptions{})
		st := wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeFieldValueInvalid, "metadata.name")
		if st.Details.Kind != "ConfigMap" || st.Details.Name != "Bad_Name" {
			t.Fatalf("invalid details %+v", st.Details)
		}
		_, err = cms.Create(e.ctx, &corev1.ConfigMap{}, metav1.CreateOptions{})
		st = wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeFieldValueRequired, "metadata.name")

		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "mismatch"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}, Template: template}}
		_, err = e.cs.AppsV1().Deployments(e.ns).Create(e.ctx, d, metav1.CreateOptions{})
		st = wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeFieldValueInvalid, "spec.template.metadata.labels")
		if st.Details.Group != "apps" || st.Details.Kind != "Deployment" {
			t.Fatalf("deployment invalid details %+v", st.Details)
		}
	})

	t.Run("namespace in body differs from URL", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other-ns", Namespace: "default"}}
		_, err := cms.Create(e.ctx, cm, metav1.CreateOptions{})
		st := wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
		if !strings.Contains(st.Message, "does not match the namespace") {
			t.Fatalf("message %q", st.Message)
		}
		cm.Namespace = e.ns
		cm, err = cms.Create(e.ctx, cm, metav1.CreateOptions{})
		must(t, err)
		cm.Namespace = "default"
		err = e.cs.CoreV1().RESTClient().Put().Namespace(e.ns).Resource("configmaps").Name(cm.Name).Body(cm).Do(e.ctx).Error()
		wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
	})
}

// A node agent registers its Node with status filled in; upstream keeps it (other resources' status
// is cleared on create).
func TestNodeStatusKeptOnCreate(t *testing.T) {
	e := newEnv(t)
	name := "status-on-create-" + e.ns
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.0.9"}}
	got, err := e.cs.CoreV1().Nodes().Create(e.ctx, n, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() { e.cs.CoreV1().Nodes().Delete(e.ctx, name, metav1.DeleteOptions{}) })
	if len(got.Status.Addresses) != 1 || got.Status.Addresses[0].Address != "198.18.0.9" {
		t.Fatalf("node status on create: %+v", got.Status)
	}
	cm := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "status-cleared"},
		Spec:   corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "198.18.0.10"}}}}}
	svc, err := e.cs.CoreV1().Services(e.ns).Create(e.ctx, cm, metav1.CreateOptions{})
	must(t, err)
	if len(svc.Status.LoadBalancer.Ingress) != 0 {
		t.Fatalf("service status kept on create: %+v", svc.Status)
	}
}
