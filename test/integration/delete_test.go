package integration

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestDeletion(t *testing.T) {
	e := newEnv(t)
	pods := e.cs.CoreV1().Pods(e.ns)
	cms := e.cs.CoreV1().ConfigMaps(e.ns)

	t.Run("graceful pod deletion", func(t *testing.T) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Spec: *podSpec.DeepCopy()}
		p.Spec.NodeName = "node-1"
		p, err := pods.Create(e.ctx, p, metav1.CreateOptions{})
		must(t, err)
		must(t, pods.Delete(e.ctx, "bound", metav1.DeleteOptions{}))
		got, err := pods.Get(e.ctx, "bound", metav1.GetOptions{})
		must(t, err)
		if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 {
			t.Fatalf("a bound pod after delete: deletionTimestamp %v grace %v", got.DeletionTimestamp, got.DeletionGracePeriodSeconds)
		}
		if got.Generation <= p.Generation {
			t.Fatalf("graceful deletion did not bump generation (%d -> %d)", p.Generation, got.Generation)
		}
		// A shorter grace period shortens it; 0 removes the pod.
		must(t, pods.Delete(e.ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(5))}))
		got, err = pods.Get(e.ctx, "bound", metav1.GetOptions{})
		must(t, err)
		if *got.DeletionGracePeriodSeconds != 5 {
			t.Fatalf("grace period after a shorter delete: %d", *got.DeletionGracePeriodSeconds)
		}
		must(t, pods.Delete(e.ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}))
		_, err = pods.Get(e.ctx, "bound", metav1.GetOptions{})
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)
		// A pod on no node goes at once.
		_, err = pods.Create(e.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unbound"}, Spec: podSpec}, metav1.CreateOptions{})
		must(t, err)
		must(t, pods.Delete(e.ctx, "unbound", metav1.DeleteOptions{}))
		_, err = pods.Get(e.ctx, "unbound", metav1.GetOptions{})
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)
	})

	t.Run("finalizers hold an object", func(t *testing.T) {
		_, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fin", Finalizers: []string{"skiff.dev/hold"}}}, metav1.CreateOptions{})
		must(t, err)
		must(t, cms.Delete(e.ctx, "fin", metav1.DeleteOptions{}))
		got, err := cms.Get(e.ctx, "fin", metav1.GetOptions{})
		must(t, err)
		if got.DeletionTimestamp == nil {
			t.Fatal("finalized object has no deletionTimestamp")
		}
		// No new finalizers on an object being deleted.
		add := got.DeepCopy()
		add.Finalizers = append(add.Finalizers, "skiff.dev/other")
		_, err = cms.Update(e.ctx, add, metav1.UpdateOptions{})
		st := wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeForbidden, "metadata.finalizers[1]")
		got.Finalizers = nil
		_, err = cms.Update(e.ctx, got, metav1.UpdateOptions{})
		must(t, err)
		_, err = cms.Get(e.ctx, "fin", metav1.GetOptions{})
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)
	})

	t.Run("preconditions", func(t *testing.T) {
		c, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pre"}}, metav1.CreateOptions{})
		must(t, err)
		err = cms.Delete(e.ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(types.UID("wrong"))}})
		st := wantStatus(t, err, 409, metav1.StatusReasonConflict)
		if !strings.Contains(st.Message, "Precondition failed: UID in precondition: wrong") {
			t.Fatalf("uid precondition message %q", st.Message)
		}
		err = cms.Delete(e.ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: ptr("1")}})
		wantStatus(t, err, 409, metav1.StatusReasonConflict)
		must(t, cms.Delete(e.ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &c.UID, ResourceVersion: &c.ResourceVersion}}))
	})

	t.Run("propagation policies", func(t *testing.T) {
		for policy, fin := range map[metav1.DeletionPropagation]string{
			metav1.DeletePropagationForeground: metav1.FinalizerDeleteDependents,
			metav1.DeletePropagationOrphan:     metav1.FinalizerOrphanDependents,
		} {
			name := "prop-" + strings.ToLower(string(policy))
			_, err := e.cs.AppsV1().ReplicaSets(e.ns).Create(e.ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: selLabels}, Template: template}}, metav1.CreateOptions{})
			must(t, err)
			must(t, e.cs.AppsV1().ReplicaSets(e.ns).Delete(e.ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy}))
			got, err := e.cs.AppsV1().ReplicaSets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
			must(t, err)
			if got.DeletionTimestamp == nil || len(got.Finalizers) != 1 || got.Finalizers[0] != fin {
				t.Fatalf("%s: deletionTimestamp %v finalizers %v, want [%s]", policy, got.DeletionTimestamp, got.Finalizers, fin)
			}
		}
		bad := metav1.DeletionPropagation("Sideways")
		err := cms.Delete(e.ctx, "whatever", metav1.DeleteOptions{PropagationPolicy: &bad})
		st := wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeFieldValueNotSupported, "propagationPolicy")
	})

	t.Run("deletecollection with a label selector", func(t *testing.T) {
		for _, n := range []string{"dc-1", "dc-2", "dc-3"} {
			lbl := map[string]string{"dc": "yes"}
			if n == "dc-3" {
				lbl["dc"] = "no"
			}
			_, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: lbl}}, metav1.CreateOptions{})
			must(t, err)
		}
		must(t, cms.DeleteCollection(e.ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "dc=yes"}))
		l, err := cms.List(e.ctx, metav1.ListOptions{LabelSelector: "dc"})
		must(t, err)
		if got := strings.Join(cmNames(l), ","); got != "dc-3" {
			t.Fatalf("after deletecollection: %s", got)
		}
	})

	t.Run("namespace deletion", func(t *testing.T) {
		ns := e.namespace()
		got, err := e.cs.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
		must(t, err)
		if got.Status.Phase != corev1.NamespaceActive || len(got.Spec.Finalizers) != 1 || got.Spec.Finalizers[0] != corev1.FinalizerKubernetes {
			t.Fatalf("new namespace: phase %s finalizers %v", got.Status.Phase, got.Spec.Finalizers)
		}
		// namespaces/status addresses the namespace, not a resource "status" inside it.
		got.Status.Conditions = []corev1.NamespaceCondition{{Type: corev1.NamespaceDeletionDiscoveryFailure, Status: corev1.ConditionFalse}}
		got, err = e.cs.CoreV1().Namespaces().UpdateStatus(e.ctx, got, metav1.UpdateOptions{})
		must(t, err)
		if len(got.Status.Conditions) != 1 {
			t.Fatalf("namespace status update lost its conditions: %+v", got.Status)
		}
		must(t, e.cs.CoreV1().Namespaces().Delete(e.ctx, ns, metav1.DeleteOptions{}))
		got, err = e.cs.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
		must(t, err)
		if got.Status.Phase != corev1.NamespaceTerminating || got.DeletionTimestamp == nil || len(got.Spec.Finalizers) != 1 {
			t.Fatalf("deleted namespace: phase %s deletionTimestamp %v finalizers %v", got.Status.Phase, got.DeletionTimestamp, got.Spec.Finalizers)
		}
		// Clearing spec.finalizers through namespaces/finalize completes the deletion.
		got.Spec.Finalizers = nil
		_, err = e.cs.CoreV1().Namespaces().Finalize(e.ctx, got, metav1.UpdateOptions{})
		must(t, err)
		_, err = e.cs.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
		wantStatus(t, err, 404, metav1.StatusReasonNotFound)
	})
}
