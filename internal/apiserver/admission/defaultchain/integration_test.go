package defaultchain_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/testserver"
)

// TestDefaultChainThroughTheAPI drives the wired admission chain and eviction through client-go
// against a real server.
func TestDefaultChainThroughTheAPI(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client
	ctx := context.Background()

	newNS := func(t *testing.T, name string) {
		t.Helper()
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	simplePod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}

	t.Run("namespace lifecycle", func(t *testing.T) {
		_, err := c.CoreV1().ConfigMaps("missing").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) || err.Error() != `namespaces "missing" not found` {
			t.Fatalf("create in missing namespace: %v", err)
		}
		// Created and used at once: the cache may not have the namespace yet.
		newNS(t, "doomed")
		if _, err := c.CoreV1().ConfigMaps("doomed").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create right after the namespace: %v", err)
		}
		if err := c.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = c.CoreV1().Pods("doomed").Create(ctx, simplePod("p"), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || err.Error() != `pods "p" is forbidden: unable to create new content in namespace doomed because it is being terminated` {
			t.Fatalf("create in terminating namespace: %v", err)
		}
		err = c.CoreV1().Namespaces().Delete(ctx, "kube-system", metav1.DeleteOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "this namespace may not be deleted") {
			t.Fatalf("delete kube-system: %v", err)
		}
	})

	t.Run("pod defaults", func(t *testing.T) {
		newNS(t, "pods")
		p, err := c.CoreV1().Pods("pods").Create(ctx, simplePod("plain"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.ServiceAccountName != "default" {
			t.Errorf("serviceAccountName %q", p.Spec.ServiceAccountName)
		}
		if p.Spec.Priority == nil || *p.Spec.Priority != 0 {
			t.Errorf("priority %v", p.Spec.Priority)
		}
		keys := []string{}
		for _, tol := range p.Spec.Tolerations {
			if tol.TolerationSeconds != nil && *tol.TolerationSeconds == 300 {
				keys = append(keys, tol.Key)
			}
		}
		if !slices.Equal(keys, []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
			t.Errorf("tolerations %+v", p.Spec.Tolerations)
		}

		crit := simplePod("critical")
		crit.Spec.PriorityClassName = "system-cluster-critical"
		p, err = c.CoreV1().Pods("pods").Create(ctx, crit, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.Priority == nil || *p.Spec.Priority != 2000000000 || p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
			t.Errorf("priority %v policy %v", p.Spec.Priority, p.Spec.PreemptionPolicy)
		}

		ghost := simplePod("ghost")
		ghost.Spec.ServiceAccountName = "ghost"
		if _, err := c.CoreV1().Pods("pods").Create(ctx, ghost, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("pod naming a missing service account: %v", err)
		}
		unknown := simplePod("unknown")
		unknown.Spec.PriorityClassName = "nope"
		if _, err := c.CoreV1().Pods("pods").Create(ctx, unknown, metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
			!strings.Contains(err.Error(), "no PriorityClass with name nope was found") {
			t.Errorf("pod naming a missing priority class: %v", err)
		}
	})

	t.Run("limit range defaults", func(t *testing.T) {
		newNS(t, "limits")
		lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "defaults"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}}}
		if _, err := c.CoreV1().LimitRanges("limits").Create(ctx, lr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p, err := c.CoreV1().Pods("limits").Create(ctx, simplePod("p"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := p.Spec.Containers[0].Resources
		if r.Requests.Cpu().String() != "100m" || r.Limits.Cpu().String() != "500m" {
			t.Errorf("resources %+v", r)
		}
		big := simplePod("big")
		big.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		_, err = c.CoreV1().Pods("limits").Create(ctx, big, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "maximum cpu usage per Container is 1, but limit is 2") {
			t.Errorf("pod over the max: %v", err)
		}
	})

	t.Run("resource quota", func(t *testing.T) {
		newNS(t, "quota")
		if _, err := c.CoreV1().ConfigMaps("quota").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("1"), corev1.ResourceConfigMaps: resource.MustParse("5"),
		}}}
		q, err := c.CoreV1().ResourceQuotas("quota").Create(ctx, q, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if q.Status.Hard.Pods().String() != "1" || q.Status.Used.Pods().String() != "0" ||
			q.Status.Used.Name(corev1.ResourceConfigMaps, resource.DecimalSI).String() != "1" {
			t.Fatalf("new quota status %+v", q.Status)
		}
		if _, err := c.CoreV1().Pods("quota").Create(ctx, simplePod("one"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, c, "quota", "q", corev1.ResourcePods, "1")
		_, err = c.CoreV1().Pods("quota").Create(ctx, simplePod("two"), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || err.Error() != `pods "two" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1` {
			t.Fatalf("second pod: %v", err)
		}
		if err := c.CoreV1().Pods("quota").Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, c, "quota", "q", corev1.ResourcePods, "0")
		if _, err := c.CoreV1().Pods("quota").Create(ctx, simplePod("two"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("pod after a release: %v", err)
		}
	})

	t.Run("pvc protection", func(t *testing.T) {
		newNS(t, "storage")
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		}}
		got, err := c.CoreV1().PersistentVolumeClaims("storage").Create(ctx, pvc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(got.Finalizers, "kubernetes.io/pvc-protection") {
			t.Errorf("finalizers %v", got.Finalizers)
		}
	})

	t.Run("eviction", func(t *testing.T) {
		newNS(t, "evict")
		running := func(name string) {
			t.Helper()
			p, err := c.CoreV1().Pods("evict").Create(ctx, simplePod(name), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			if _, err := c.CoreV1().Pods("evict").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		running("a")
		running("b")
		minAvail := intstr.FromInt32(1)
		pdb, err := c.PolicyV1().PodDisruptionBudgets("evict").Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvail, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		evict := func(name string) error {
			return c.PolicyV1().Evictions("evict").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "evict"}})
		}
		// Not yet observed by a controller: refused, with a Retry-After that client-go would
		// honour for a while, hence a request that does not retry.
		err = c.CoreV1().RESTClient().Post().Namespace("evict").Resource("pods").Name("a").SubResource("eviction").MaxRetries(0).
			Body(&policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "evict"}}).Do(ctx).Error()
		if !isTooManyRequests(err) || !strings.Contains(err.Error(), "Cannot evict pod") {
			t.Fatalf("eviction before the budget is observed: %v", err)
		}
		setBudget := func(allowed int32) {
			t.Helper()
			cur, err := c.PolicyV1().PodDisruptionBudgets("evict").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cur.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: allowed,
				CurrentHealthy: 1 + allowed, DesiredHealthy: 1, ExpectedPods: 2}
			if _, err := c.PolicyV1().PodDisruptionBudgets("evict").UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		setBudget(1)
		if err := evict("a"); err != nil {
			t.Fatalf("eviction within the budget: %v", err)
		}
		if _, err := c.CoreV1().Pods("evict").Get(ctx, "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("evicted pod still there: %v", err)
		}
		got, err := c.PolicyV1().PodDisruptionBudgets("evict").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.DisruptionsAllowed != 0 || got.Status.DisruptedPods["a"].Time.IsZero() {
			t.Fatalf("budget after eviction: %+v", got.Status)
		}
		err = evict("b")
		if !isTooManyRequests(err) || !strings.Contains(err.Error(), "Cannot evict pod as it would violate the pod's disruption budget.") {
			t.Fatalf("eviction past the budget: %v", err)
		}
		se := err.(apierrors.APIStatus).Status()
		if se.Details == nil || len(se.Details.Causes) == 0 || se.Details.Causes[0].Type != policyv1.DisruptionBudgetCause {
			t.Fatalf("causes %+v", se.Details)
		}
		if _, err := c.CoreV1().Pods("evict").Get(ctx, "b", metav1.GetOptions{}); err != nil {
			t.Fatalf("refused eviction deleted the pod: %v", err)
		}
	})
}

func isTooManyRequests(err error) bool {
	s, ok := err.(apierrors.APIStatus)
	return ok && s.Status().Code == http.StatusTooManyRequests
}

func waitUsed(t *testing.T, c kubernetes.Interface, ns, name string, res corev1.ResourceName, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, err := c.CoreV1().ResourceQuotas(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v := q.Status.Used[res]
		if v.String() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("quota %s used %s = %s, want %s", name, res, v.String(), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
