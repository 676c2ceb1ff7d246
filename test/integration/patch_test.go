package integration

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

func TestPatches(t *testing.T) {
	e := newEnv(t)
	cms := e.cs.CoreV1().ConfigMaps(e.ns)
	_, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "1"}},
		Data: map[string]string{"x": "1", "y": "2"}}, metav1.CreateOptions{})
	must(t, err)

	t.Run("json patch", func(t *testing.T) {
		c, err := cms.Patch(e.ctx, "p", types.JSONPatchType, []byte(`[{"op":"add","path":"/data/z","value":"3"},{"op":"remove","path":"/data/x"},{"op":"test","path":"/data/y","value":"2"}]`), metav1.PatchOptions{})
		must(t, err)
		if c.Data["z"] != "3" || c.Data["y"] != "2" || len(c.Data) != 2 {
			t.Fatalf("data %v", c.Data)
		}
		_, err = cms.Patch(e.ctx, "p", types.JSONPatchType, []byte(`[{"op":"test","path":"/data/y","value":"nope"}]`), metav1.PatchOptions{})
		if err == nil {
			t.Fatal("a failing test op succeeded")
		}
		_, err = cms.Patch(e.ctx, "p", types.JSONPatchType, []byte(`{"not":"a list"}`), metav1.PatchOptions{})
		wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
	})

	t.Run("merge patch", func(t *testing.T) {
		c, err := cms.Patch(e.ctx, "p", types.MergePatchType, []byte(`{"metadata":{"labels":{"a":null,"b":"2"}},"data":{"y":null,"w":"4"}}`), metav1.PatchOptions{})
		must(t, err)
		if _, ok := c.Labels["a"]; ok || c.Labels["b"] != "2" || c.Data["w"] != "4" || c.Data["y"] != "" {
			t.Fatalf("labels %v data %v", c.Labels, c.Data)
		}
		_, err = cms.Patch(e.ctx, "missing", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)
		// A stale resourceVersion in a patch conflicts.
		_, err = cms.Patch(e.ctx, "p", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"1"},"data":{"q":"1"}}`), metav1.PatchOptions{})
		wantStatus(t, err, 409, metav1.StatusReasonConflict)
	})

	t.Run("strategic merge patch merges containers by name", func(t *testing.T) {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "smp"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selLabels}, Template: *template.DeepCopy()}}
		d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "a", Image: "a:1"}, {Name: "b", Image: "b:1"}}
		_, err := e.cs.AppsV1().Deployments(e.ns).Create(e.ctx, d, metav1.CreateOptions{})
		must(t, err)
		got, err := e.cs.AppsV1().Deployments(e.ns).Patch(e.ctx, "smp", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b:2"},{"name":"c","image":"c:1"}]}}}}`), metav1.PatchOptions{})
		must(t, err)
		var imgs []string
		for _, c := range got.Spec.Template.Spec.Containers {
			imgs = append(imgs, c.Name+"="+c.Image)
		}
		if strings.Join(imgs, ",") != "a=a:1,b=b:2,c=c:1" {
			t.Fatalf("containers after strategic merge: %v", imgs)
		}
		if got.Generation != 2 {
			t.Fatalf("generation %d after a spec patch", got.Generation)
		}
		got, err = e.cs.AppsV1().Deployments(e.ns).Patch(e.ctx, "smp", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","$patch":"delete"}]}}}}`), metav1.PatchOptions{})
		must(t, err)
		if len(got.Spec.Template.Spec.Containers) != 2 || got.Spec.Template.Spec.Containers[0].Name != "b" {
			t.Fatalf("$patch delete: %v", got.Spec.Template.Spec.Containers)
		}
		// Strategic merge on a merge-patch-only content type is refused.
		err = e.cs.CoreV1().RESTClient().Patch(types.PatchType("application/unknown-patch+json")).Namespace(e.ns).Resource("configmaps").Name("p").Body([]byte(`{}`)).Do(e.ctx).Error()
		wantStatus(t, err, 415, metav1.StatusReasonUnsupportedMediaType)
	})
}

func TestServerSideApply(t *testing.T) {
	e := newEnv(t)
	cms := e.cs.CoreV1().ConfigMaps(e.ns)
	ac := corev1ac.ConfigMap("ssa", e.ns).WithData(map[string]string{"owned-by-a": "1", "shared": "a"})
	c, err := cms.Apply(e.ctx, ac, metav1.ApplyOptions{FieldManager: "manager-a"})
	must(t, err)
	if c.Data["shared"] != "a" || c.UID == "" {
		t.Fatalf("apply-create: %+v", c)
	}
	managers := func(c *corev1.ConfigMap) map[string]metav1.ManagedFieldsOperationType {
		out := map[string]metav1.ManagedFieldsOperationType{}
		for _, f := range c.ManagedFields {
			out[f.Manager] = f.Operation
			if f.FieldsType != "FieldsV1" || f.FieldsV1 == nil || f.APIVersion != "v1" || f.Time == nil {
				t.Fatalf("managed fields entry %+v", f)
			}
		}
		return out
	}
	if m := managers(c); len(m) != 1 || m["manager-a"] != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managedFields after apply-create: %v", m)
	}

	// A second manager changing a field the first owns conflicts.
	bc := corev1ac.ConfigMap("ssa", e.ns).WithData(map[string]string{"shared": "b", "owned-by-b": "1"})
	_, err = cms.Apply(e.ctx, bc, metav1.ApplyOptions{FieldManager: "manager-b"})
	st := wantStatus(t, err, 409, metav1.StatusReasonConflict)
	if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != metav1.CauseTypeFieldManagerConflict ||
		st.Details.Causes[0].Field != ".data.shared" || !strings.Contains(st.Details.Causes[0].Message, `"manager-a"`) {
		t.Fatalf("conflict causes: %+v", st.Details)
	}
	if !strings.Contains(st.Message, "Apply failed with 1 conflict") {
		t.Fatalf("conflict message %q", st.Message)
	}

	// force takes ownership.
	c, err = cms.Apply(e.ctx, bc, metav1.ApplyOptions{FieldManager: "manager-b", Force: true})
	must(t, err)
	if c.Data["shared"] != "b" || c.Data["owned-by-a"] != "1" {
		t.Fatalf("forced apply: %v", c.Data)
	}
	if m := managers(c); m["manager-a"] != metav1.ManagedFieldsOperationApply || m["manager-b"] != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managers after force: %v", m)
	}
	// manager-a may now drop "shared" without a conflict, and its field set no longer has it.
	c, err = cms.Apply(e.ctx, corev1ac.ConfigMap("ssa", e.ns).WithData(map[string]string{"owned-by-a": "1"}), metav1.ApplyOptions{FieldManager: "manager-a"})
	must(t, err)
	if c.Data["shared"] != "b" {
		t.Fatalf("a field owned by b went away when a stopped applying it: %v", c.Data)
	}
	// An update records an Update entry for its manager.
	c.Data["by-update"] = "1"
	c, err = cms.Update(e.ctx, c, metav1.UpdateOptions{FieldManager: "updater"})
	must(t, err)
	if m := managers(c); m["updater"] != metav1.ManagedFieldsOperationUpdate {
		t.Fatalf("managers after update: %v", m)
	}
	// Apply without a field manager is refused.
	err = e.cs.CoreV1().RESTClient().Patch(types.ApplyPatchType).Namespace(e.ns).Resource("configmaps").Name("ssa").
		Body([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"}}`)).Do(e.ctx).Error()
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
	// Removing an applied field: manager-b drops owned-by-b, which then goes.
	c, err = cms.Apply(e.ctx, corev1ac.ConfigMap("ssa", e.ns).WithData(map[string]string{"shared": "b"}), metav1.ApplyOptions{FieldManager: "manager-b"})
	must(t, err)
	if _, ok := c.Data["owned-by-b"]; ok {
		t.Fatalf("a field its only applier dropped is still there: %v", c.Data)
	}
}

func TestSubresources(t *testing.T) {
	e := newEnv(t)
	deps := e.cs.AppsV1().Deployments(e.ns)
	d, err := deps.Create(e.ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "sub"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: selLabels}, Template: template}}, metav1.CreateOptions{})
	must(t, err)

	t.Run("status ignores spec, main ignores status", func(t *testing.T) {
		d := d.DeepCopy()
		d.Status.Replicas, d.Status.ObservedGeneration = 5, 1
		d.Spec.Replicas = ptr(int32(9))
		got, err := deps.UpdateStatus(e.ctx, d, metav1.UpdateOptions{})
		must(t, err)
		if got.Status.Replicas != 5 || *got.Spec.Replicas != 1 || got.Generation != 1 {
			t.Fatalf("status update: status.replicas %d spec.replicas %d generation %d", got.Status.Replicas, *got.Spec.Replicas, got.Generation)
		}
		got.Status.Replicas = 0
		got.Spec.Replicas = ptr(int32(2))
		got, err = deps.Update(e.ctx, got, metav1.UpdateOptions{})
		must(t, err)
		if got.Status.Replicas != 5 || *got.Spec.Replicas != 2 {
			t.Fatalf("main update: status.replicas %d spec.replicas %d", got.Status.Replicas, *got.Spec.Replicas)
		}
		// Status patch too.
		got, err = deps.Patch(e.ctx, "sub", types.MergePatchType, []byte(`{"spec":{"replicas":7},"status":{"readyReplicas":3}}`), metav1.PatchOptions{}, "status")
		must(t, err)
		if got.Status.ReadyReplicas != 3 || *got.Spec.Replicas != 2 {
			t.Fatalf("status patch: ready %d spec.replicas %d", got.Status.ReadyReplicas, *got.Spec.Replicas)
		}
		// A resource without status has no status subresource.
		err = e.cs.CoreV1().RESTClient().Get().Namespace(e.ns).Resource("configmaps").Name("x").SubResource("status").Do(e.ctx).Error()
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)
	})

	t.Run("scale", func(t *testing.T) {
		sc, err := deps.GetScale(e.ctx, "sub", metav1.GetOptions{})
		must(t, err)
		if sc.Spec.Replicas != 2 || sc.Status.Selector != "app=x" || sc.Name != "sub" || sc.Namespace != e.ns {
			t.Fatalf("deployment scale %+v", sc)
		}
		sc.Spec.Replicas = 4
		sc, err = deps.UpdateScale(e.ctx, "sub", sc, metav1.UpdateOptions{})
		must(t, err)
		got, err := deps.Get(e.ctx, "sub", metav1.GetOptions{})
		must(t, err)
		if *got.Spec.Replicas != 4 || sc.Spec.Replicas != 4 || got.ResourceVersion != sc.ResourceVersion {
			t.Fatalf("after UpdateScale: spec.replicas %d, scale %d, rv %s vs %s", *got.Spec.Replicas, sc.Spec.Replicas, got.ResourceVersion, sc.ResourceVersion)
		}
		stale := sc.DeepCopy()
		stale.ResourceVersion = "1"
		_, err = deps.UpdateScale(e.ctx, "sub", stale, metav1.UpdateOptions{})
		wantStatus(t, err, 409, metav1.StatusReasonConflict)
		stale.ResourceVersion, stale.Spec.Replicas = "", -1
		_, err = deps.UpdateScale(e.ctx, "sub", stale, metav1.UpdateOptions{})
		st := wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeFieldValueInvalid, "spec.replicas")
		_, err = deps.GetScale(e.ctx, "missing", metav1.GetOptions{})
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)

		rs, err := e.cs.AppsV1().ReplicaSets(e.ns).Create(e.ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "sub"}, Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selLabels}, Template: template}}, metav1.CreateOptions{})
		must(t, err)
		_ = rs
		sts, err := e.cs.AppsV1().StatefulSets(e.ns).Create(e.ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "sub"}, Spec: appsv1.StatefulSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selLabels}, Template: template, ServiceName: "s"}}, metav1.CreateOptions{})
		must(t, err)
		_ = sts
		for _, res := range []string{"replicasets", "statefulsets"} {
			rc := e.cs.AppsV1().RESTClient()
			sc := &autoscalingv1.Scale{}
			must(t, rc.Get().Namespace(e.ns).Resource(res).Name("sub").SubResource("scale").Do(e.ctx).Into(sc))
			if sc.Spec.Replicas != 1 || sc.Status.Selector != "app=x" {
				t.Fatalf("%s scale %+v", res, sc)
			}
			sc.Spec.Replicas = 3
			out := &autoscalingv1.Scale{}
			must(t, rc.Put().Namespace(e.ns).Resource(res).Name("sub").SubResource("scale").Body(sc).Do(e.ctx).Into(out))
			if out.Spec.Replicas != 3 {
				t.Fatalf("%s scale update answered %d", res, out.Spec.Replicas)
			}
			// Patching the scale works too.
			must(t, rc.Patch(types.MergePatchType).Namespace(e.ns).Resource(res).Name("sub").SubResource("scale").
				Body([]byte(`{"spec":{"replicas":5}}`)).Do(e.ctx).Into(out))
			if out.Spec.Replicas != 5 {
				t.Fatalf("%s scale patch answered %d", res, out.Spec.Replicas)
			}
		}
		rsGot, err := e.cs.AppsV1().ReplicaSets(e.ns).Get(e.ctx, "sub", metav1.GetOptions{})
		must(t, err)
		stsGot, err := e.cs.AppsV1().StatefulSets(e.ns).Get(e.ctx, "sub", metav1.GetOptions{})
		must(t, err)
		if *rsGot.Spec.Replicas != 5 || *stsGot.Spec.Replicas != 5 {
			t.Fatalf("replicas after scale: rs %d sts %d", *rsGot.Spec.Replicas, *stsGot.Spec.Replicas)
		}
		// A resource without scale has none.
		err = e.cs.AppsV1().RESTClient().Get().Namespace(e.ns).Resource("daemonsets").Name("x").SubResource("scale").Do(e.ctx).Error()
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)
	})
}
