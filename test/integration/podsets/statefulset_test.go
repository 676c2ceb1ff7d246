package podsets

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

func webSet(ns string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: "nginx",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27",
					VolumeMounts: []corev1.VolumeMount{{Name: "www", MountPath: "/usr/share/nginx/html"}}}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			}},
		},
	}
}

// podLog follows a namespace's pods through a watch and records, in stream order, what the
// ordering rules are about: each pod's creation (with whether its predecessor was ready at that
// point of the stream), the start of each deletion, and each pod's removal.
type podLog struct {
	mu      sync.Mutex
	state   map[string]*corev1.Pod
	entries []string
	// violations are creations that happened while the previous ordinal was not ready.
	violations []string
}

func follow(t *testing.T, ns string) *podLog {
	t.Helper()
	w, err := client.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	l := &podLog{state: map[string]*corev1.Pod{}}
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			l.mu.Lock()
			prev := l.state[p.Name]
			switch ev.Type {
			case watch.Added:
				l.entries = append(l.entries, "+"+p.Name)
				var ord int
				fmt.Sscanf(p.Name[strings.LastIndex(p.Name, "-")+1:], "%d", &ord)
				if ord > 0 {
					before := l.state[fmt.Sprintf("web-%d", ord-1)]
					if before == nil || !ready(before) {
						l.violations = append(l.violations, p.Name)
					}
				}
				l.state[p.Name] = p
			case watch.Modified:
				if p.DeletionTimestamp != nil && (prev == nil || prev.DeletionTimestamp == nil) {
					l.entries = append(l.entries, "~"+p.Name)
				}
				l.state[p.Name] = p
			case watch.Deleted:
				l.entries = append(l.entries, "-"+p.Name)
				delete(l.state, p.Name)
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *podLog) snapshot() (entries, violations []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...), append([]string(nil), l.violations...)
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return p.Status.Phase == corev1.PodRunning && c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(ns, name string) bool {
	p, err := client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	return err == nil && ready(p) && p.DeletionTimestamp == nil
}

func podCount(ns string) int {
	l, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return -1
	}
	return len(l.Items)
}

func TestStatefulSetOrderedLifecycle(t *testing.T) {
	ns := namespace(t, "sts")
	ctx := context.Background()
	log := follow(t, ns)
	hold(ns, "web-1")
	if _, err := client.AppsV1().StatefulSets(ns).Create(ctx, webSet(ns, 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "web-0 ready and web-1 running", func() bool {
		p, err := client.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
		return podReady(ns, "web-0") && err == nil && p.Status.Phase == corev1.PodRunning
	})
	// web-1 runs but is not ready: web-2 must not appear.
	time.Sleep(time.Second)
	if _, err := client.CoreV1().Pods(ns).Get(ctx, "web-2", metav1.GetOptions{}); err == nil {
		t.Fatal("web-2 created while web-1 was not ready")
	}
	release(ns, "web-1")
	eventually(t, 20*time.Second, "3/3 ready", func() bool {
		s, err := client.AppsV1().StatefulSets(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && s.Status.ReadyReplicas == 3 && s.Status.AvailableReplicas == 3
	})
	entries, violations := log.snapshot()
	if len(violations) > 0 {
		t.Errorf("created before the previous ordinal was ready: %v (stream %v)", violations, entries)
	}
	if got := strings.Join(entries, " "); got != "+web-0 +web-1 +web-2" {
		t.Errorf("creation order %q", got)
	}

	// Identity and storage.
	p, err := client.CoreV1().Pods(ns).Get(ctx, "web-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Hostname != "web-2" || p.Spec.Subdomain != "nginx" || p.Labels["statefulset.kubernetes.io/pod-name"] != "web-2" ||
		p.Labels["apps.kubernetes.io/pod-index"] != "2" || !strings.HasPrefix(p.Labels["controller-revision-hash"], "web-") {
		t.Errorf("web-2 identity: hostname %q subdomain %q labels %v", p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
	}
	pvcs, err := client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pvcs.Items) != 3 {
		t.Fatalf("claims: %v %d", err, len(pvcs.Items))
	}

	out := ok(t, "get", "sts", "-n", ns)
	if !regexp.MustCompile(`(?m)^NAME\s+READY\s+AGE\n^web\s+3/3\s+\S+\n$`).MatchString(out) {
		t.Errorf("kubectl get sts:\n%s", out)
	}
	out = ok(t, "rollout", "status", "sts/web", "-n", ns, "--timeout=30s")
	if !strings.Contains(out, "partitioned roll out complete: 3 new pods have been updated...") &&
		!strings.Contains(out, "statefulset rolling update complete 3 pods at revision web-") {
		t.Errorf("rollout status: %q", out)
	}

	// A deleted pod comes back under its name, with its claim.
	w1, err := client.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := w1.UID
	if err := client.CoreV1().Pods(ns).Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "web-1 back", func() bool {
		p, err := client.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
		return err == nil && p.UID != old && ready(p) && p.DeletionTimestamp == nil
	})
	if p, _ := client.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{}); len(p.Spec.Volumes) == 0 || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "www-web-1" {
		t.Errorf("web-1 volumes %+v", p.Spec.Volumes)
	}

	// Scale to zero: pods go 2, 1, 0, each only after the one above is gone.
	eventually(t, 10*time.Second, "the watch to see web-1 back", func() bool {
		return strings.Count(strings.Join(mustEntries(log), " "), "+web-1") == 2
	})
	before := len(mustEntries(log))
	scale(t, ns, 0)
	eventually(t, 20*time.Second, "no pods", func() bool { return podCount(ns) == 0 })
	all := mustEntries(log)
	if got := strings.Join(all[before:], " "); got != "~web-2 -web-2 ~web-1 -web-1 ~web-0 -web-0" {
		t.Errorf("scale down order %q", got)
	}
	// Claims outlive their pods (retention Retain by default).
	if pvcs, _ := client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{}); len(pvcs.Items) != 3 {
		t.Errorf("claims after scale down: %d", len(pvcs.Items))
	}
	evs, _ := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	var msgs []string
	for _, e := range evs.Items {
		msgs = append(msgs, e.Reason+": "+e.Message)
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"SuccessfulCreate: create Pod web-0 in StatefulSet web successful",
		"SuccessfulCreate: create Claim www-web-0 Pod web-0 in StatefulSet web success",
		"SuccessfulDelete: delete Pod web-2 in StatefulSet web successful"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing event %q in\n%s", want, joined)
		}
	}
}

// scale sets the replicas of sts/web with a patch, as `kubectl scale` would, so the controller's
// status writes cannot make it conflict.
func scale(t *testing.T, ns string, n int) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := client.AppsV1().StatefulSets(ns).Patch(context.Background(), "web", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func mustEntries(l *podLog) []string {
	e, _ := l.snapshot()
	return e
}

func TestStatefulSetRollingUpdateHistoryUndo(t *testing.T) {
	ns := namespace(t, "sts-roll")
	ctx := context.Background()
	set := webSet(ns, 3)
	set.Spec.VolumeClaimTemplates = nil
	set.Spec.Template.Spec.Containers[0].VolumeMounts = nil
	set.Annotations = map[string]string{"kubernetes.io/change-cause": "first"}
	if _, err := client.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ok(t, "rollout", "status", "sts/web", "-n", ns, "--timeout=60s")
	log := follow(t, ns)
	ok(t, "set", "image", "sts/web", "nginx=nginx:1.28", "-n", ns)
	ok(t, "annotate", "sts/web", "kubernetes.io/change-cause=second", "--overwrite", "-n", ns)
	out := ok(t, "rollout", "status", "sts/web", "-n", ns, "--timeout=60s")
	// The API server defaults partition to 0, as upstream, so kubectl reports a partitioned roll.
	if !strings.Contains(out, "partitioned roll out complete: 3 new pods have been updated...") {
		t.Errorf("rollout status: %q", out)
	}
	// The update went from the highest ordinal down, one pod at a time.
	var order []string
	for _, e := range mustEntries(log) {
		if strings.HasPrefix(e, "~") {
			order = append(order, e[1:])
		}
	}
	if strings.Join(order, " ") != "web-2 web-1 web-0" {
		t.Errorf("update order %v (stream %v)", order, mustEntries(log))
	}
	hist := ok(t, "rollout", "history", "sts/web", "-n", ns)
	if !regexp.MustCompile(`(?m)^1\s+first$`).MatchString(hist) || !regexp.MustCompile(`(?m)^2\s+`).MatchString(hist) {
		t.Errorf("rollout history:\n%s", hist)
	}
	out = ok(t, "rollout", "undo", "sts/web", "-n", ns)
	if strings.TrimSpace(out) != "statefulset.apps/web rolled back" {
		t.Errorf("rollout undo: %q", out)
	}
	ok(t, "rollout", "status", "sts/web", "-n", ns, "--timeout=60s")
	eventually(t, 30*time.Second, "pods back on nginx:1.27", func() bool {
		l, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) != 3 {
			return false
		}
		for _, p := range l.Items {
			if p.Spec.Containers[0].Image != "nginx:1.27" || !ready(&p) {
				return false
			}
		}
		return true
	})
	revs, _ := client.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
	nums := map[int64]bool{}
	for _, r := range revs.Items {
		nums[r.Revision] = true
	}
	if len(revs.Items) != 2 || !nums[2] || !nums[3] {
		t.Errorf("revisions after undo: %d items, numbers %v", len(revs.Items), nums)
	}
}

func TestStatefulSetParallelAndRetention(t *testing.T) {
	ns := namespace(t, "sts-par")
	ctx := context.Background()
	hold(ns, "web-0")
	defer release(ns, "web-0")
	set := webSet(ns, 3)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
	created, err := client.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Parallel: all three exist although web-0 never becomes ready.
	eventually(t, 20*time.Second, "three pods", func() bool { return podCount(ns) == 3 })
	pvc, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "www-web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pvc.OwnerReferences) != 1 || pvc.OwnerReferences[0].UID != created.UID {
		t.Errorf("claim owners with whenDeleted=Delete: %+v", pvc.OwnerReferences)
	}
	web2, err := client.CoreV1().Pods(ns).Get(ctx, "web-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale(t, ns, 2)
	// The scaled-away claim is handed to its pod for the garbage collector.
	eventually(t, 20*time.Second, "www-web-2 owned by web-2", func() bool {
		pvc, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "www-web-2", metav1.GetOptions{})
		return err == nil && len(pvc.OwnerReferences) == 1 && pvc.OwnerReferences[0].UID == web2.UID
	})
	eventually(t, 20*time.Second, "web-2 gone", func() bool { return podCount(ns) == 2 })
}
