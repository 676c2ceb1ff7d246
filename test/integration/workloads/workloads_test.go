package workloads

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
)

func manifest(t *testing.T, ns, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "NS", ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const deployYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx:1
`

func activePods(ctx context.Context, t *testing.T, ns, selector string) []corev1.Pod {
	t.Helper()
	list, err := shared.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func TestDeploymentRolloutHistoryUndoScale(t *testing.T) {
	ctx, ns := namespace(t, nil)
	mustKubectl(t, "apply", "-f", manifest(t, ns, deployYAML))
	if out := mustKubectl(t, "-n", ns, "rollout", "status", "deploy/web", "--timeout=60s"); !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Fatalf("rollout status printed %q", out)
	}
	d, err := shared.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := d.Status
	if st.Replicas != 3 || st.UpdatedReplicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.ObservedGeneration != d.Generation || d.Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Fatalf("status %+v annotations %v", st, d.Annotations)
	}
	var progressing, available string
	for _, c := range st.Conditions {
		switch c.Type {
		case appsv1.DeploymentProgressing:
			progressing = c.Reason
		case appsv1.DeploymentAvailable:
			available = c.Reason
		}
	}
	if progressing != "NewReplicaSetAvailable" || available != "MinimumReplicasAvailable" {
		t.Fatalf("conditions %+v", st.Conditions)
	}
	out := mustKubectl(t, "-n", ns, "get", "deploy,rs")
	if !regexp.MustCompile(`(?m)^deployment\.apps/web\s+3/3\s+3\s+3\s+\S+$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^replicaset\.apps/web-[a-z0-9]+\s+3\s+3\s+3\s+\S+$`).MatchString(out) {
		t.Fatalf("kubectl get deploy,rs:\n%s", out)
	}
	if out := mustKubectl(t, "-n", ns, "describe", "deploy", "web"); !regexp.MustCompile(`Normal\s+ScalingReplicaSet\s+\S+\s+deployment-controller\s+Scaled up replica set web-[a-z0-9]+ from 0 to 3`).MatchString(out) {
		t.Fatalf("describe lacks the scaling event:\n%s", out)
	}

	// A rolling update never drops below replicas - maxUnavailable (3 - 0) available pods.
	var minAvailable atomic.Int32
	minAvailable.Store(3)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w, err := shared.Client.AppsV1().Deployments(ns).Watch(watchCtx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "web").String(), ResourceVersion: d.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok && d.Status.AvailableReplicas < minAvailable.Load() {
				minAvailable.Store(d.Status.AvailableReplicas)
			}
		}
	}()
	mustKubectl(t, "-n", ns, "set", "image", "deploy/web", "c=nginx:2")
	mustKubectl(t, "-n", ns, "rollout", "status", "deploy/web", "--timeout=60s")
	stopWatch()
	if m := minAvailable.Load(); m < 3 {
		t.Errorf("available replicas fell to %d during the rolling update", m)
	}
	pods := activePods(ctx, t, ns, "app=web")
	for _, p := range pods {
		if p.Spec.Containers[0].Image != "nginx:2" {
			// Old pods may still be finishing their deletion; only count settled ones.
			t.Logf("pod %s still on %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
	hist := mustKubectl(t, "-n", ns, "rollout", "history", "deploy/web")
	if !regexp.MustCompile(`(?m)^1\s+<none>$`).MatchString(hist) || !regexp.MustCompile(`(?m)^2\s+<none>$`).MatchString(hist) {
		t.Fatalf("rollout history:\n%s", hist)
	}
	if out := mustKubectl(t, "-n", ns, "rollout", "undo", "deploy/web"); !strings.Contains(out, "deployment.apps/web rolled back") {
		t.Fatalf("rollout undo printed %q", out)
	}
	mustKubectl(t, "-n", ns, "rollout", "status", "deploy/web", "--timeout=60s")
	d, err = shared.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1" || d.Annotations["deployment.kubernetes.io/revision"] != "3" {
		t.Fatalf("after undo: image %s revision %q", img, d.Annotations["deployment.kubernetes.io/revision"])
	}
	hist = mustKubectl(t, "-n", ns, "rollout", "history", "deploy/web")
	if !regexp.MustCompile(`(?m)^2\s+<none>$`).MatchString(hist) || !regexp.MustCompile(`(?m)^3\s+<none>$`).MatchString(hist) || regexp.MustCompile(`(?m)^1\s`).MatchString(hist) {
		t.Fatalf("rollout history after undo (revision 1 became 3):\n%s", hist)
	}
	rsList, err := shared.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rsList.Items) != 2 {
		t.Fatalf("%d ReplicaSets after undo, want 2 (the undo reuses revision 1's)", len(rsList.Items))
	}
	for _, rs := range rsList.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == "nginx:1" && rs.Annotations["deployment.kubernetes.io/revision-history"] != "1" {
			t.Fatalf("rolled-back ReplicaSet annotations %v", rs.Annotations)
		}
	}

	for _, n := range []int{5, 1} {
		mustKubectl(t, "-n", ns, "scale", "deploy/web", fmt.Sprintf("--replicas=%d", n))
		eventually(ctx, t, fmt.Sprintf("scale to %d", n), func() (bool, error) {
			d, err := shared.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return len(activePods(ctx, t, ns, "app=web")) == n && d.Status.AvailableReplicas == int32(n) && d.Status.Replicas == int32(n), nil
		})
	}
}

func TestDeploymentPauseResumeAndRecreate(t *testing.T) {
	ctx, ns := namespace(t, nil)
	mustKubectl(t, "apply", "-f", manifest(t, ns, strings.Replace(deployYAML, "  replicas: 3\n", "  replicas: 2\n  strategy: {type: Recreate}\n", 1)))
	mustKubectl(t, "-n", ns, "rollout", "status", "deploy/web", "--timeout=60s")
	mustKubectl(t, "-n", ns, "rollout", "pause", "deploy/web")
	mustKubectl(t, "-n", ns, "set", "image", "deploy/web", "c=nginx:2")
	eventually(ctx, t, "paused condition", func() (bool, error) {
		d, err := shared.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Reason == "DeploymentPaused" && c.Status == corev1.ConditionUnknown {
				return true, nil
			}
		}
		return false, nil
	})
	time.Sleep(300 * time.Millisecond)
	if rs, _ := shared.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{}); len(rs.Items) != 1 {
		t.Fatalf("a paused deployment made %d ReplicaSets", len(rs.Items))
	}
	mustKubectl(t, "-n", ns, "rollout", "resume", "deploy/web")
	mustKubectl(t, "-n", ns, "rollout", "status", "deploy/web", "--timeout=60s")
	pods := activePods(ctx, t, ns, "app=web")
	if len(pods) != 2 {
		t.Fatalf("%d pods after the Recreate rollout", len(pods))
	}
	for _, p := range pods {
		if p.Spec.Containers[0].Image != "nginx:2" {
			t.Fatalf("pod %s runs %s after the rollout", p.Name, p.Spec.Containers[0].Image)
		}
	}
}

func TestDeploymentProgressDeadline(t *testing.T) {
	ctx, ns := namespace(t, func(*corev1.Pod) bool { return false })
	mustKubectl(t, "apply", "-f", manifest(t, ns, strings.Replace(deployYAML, "  replicas: 3\n", "  replicas: 2\n  progressDeadlineSeconds: 2\n", 1)))
	_, errOut, code := kubectl(t, "-n", ns, "rollout", "status", "deploy/web", "--timeout=60s")
	if code == 0 || !strings.Contains(errOut, `deployment "web" exceeded its progress deadline`) {
		t.Fatalf("rollout status: exit %d, stderr %q", code, errOut)
	}
	d, err := shared.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, c := range d.Status.Conditions {
		reasons = append(reasons, string(c.Type)+"="+string(c.Status)+"/"+c.Reason)
	}
	got := strings.Join(reasons, ",")
	if !strings.Contains(got, "Progressing=False/ProgressDeadlineExceeded") || !strings.Contains(got, "Available=False/MinimumReplicasUnavailable") {
		t.Fatalf("conditions %s", got)
	}
}

func TestReplicaSetReplacesAdoptsAndReportsQuota(t *testing.T) {
	ctx, ns := namespace(t, nil)
	pods := shared.Client.CoreV1().Pods(ns)
	// An orphan with matching labels exists first: the ReplicaSet adopts it and creates one less.
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: map[string]string{"app": "rs"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := pods.Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs"}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rs"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rs"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	if _, err := shared.Client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "three ready replicas", func() (bool, error) {
		got, err := shared.Client.AppsV1().ReplicaSets(ns).Get(ctx, "rs", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := got.Status
		return s.Replicas == 3 && s.ReadyReplicas == 3 && s.AvailableReplicas == 3 && s.FullyLabeledReplicas == 3 && s.ObservedGeneration == got.Generation, nil
	})
	if p, err := pods.Get(ctx, "orphan", metav1.GetOptions{}); err != nil || metav1.GetControllerOf(p) == nil || metav1.GetControllerOf(p).Name != "rs" {
		t.Fatalf("orphan not adopted: %v", err)
	}
	if n := len(activePods(ctx, t, ns, "app=rs")); n != 3 {
		t.Fatalf("%d pods, want 3 (the orphan counted)", n)
	}
	// A deleted pod is replaced; a relabelled one is released and replaced.
	if err := pods.Delete(ctx, "orphan", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "replacement", func() (bool, error) { return len(activePods(ctx, t, ns, "app=rs")) == 3, nil })
	victim := activePods(ctx, t, ns, "app=rs")[0]
	if _, err := pods.Patch(ctx, victim.Name, "application/merge-patch+json", []byte(`{"metadata":{"labels":{"app":"gone"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "release and replace", func() (bool, error) {
		p, err := pods.Get(ctx, victim.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return metav1.GetControllerOf(p) == nil && len(activePods(ctx, t, ns, "app=rs")) == 3, nil
	})
	// Scale down: 1 left.
	if _, err := shared.Client.AppsV1().ReplicaSets(ns).Patch(ctx, "rs", "application/merge-patch+json", []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "scale down", func() (bool, error) { return len(activePods(ctx, t, ns, "app=rs")) == 1, nil })

	// A quota that allows no more pods: ReplicaFailure and FailedCreate events.
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}}}
	if _, err := shared.Client.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Client.AppsV1().ReplicaSets(ns).Patch(ctx, "rs", "application/merge-patch+json", []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "ReplicaFailure condition", func() (bool, error) {
		got, err := shared.Client.AppsV1().ReplicaSets(ns).Get(ctx, "rs", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue && c.Reason == "FailedCreate" && strings.Contains(c.Message, "exceeded quota") {
				return true, nil
			}
		}
		return false, nil
	})
	eventually(ctx, t, "FailedCreate event", func() (bool, error) {
		evs, err := shared.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=rs"})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == "FailedCreate" && e.Type == corev1.EventTypeWarning && strings.HasPrefix(e.Message, "Error creating: ") && e.Source.Component == "replicaset-controller" {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestControllerManagerHoldsLease(t *testing.T) {
	ctx := context.Background()
	l, err := shared.Client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || l.Spec.RenewTime == nil {
		t.Fatalf("lease %+v", l.Spec)
	}
}
