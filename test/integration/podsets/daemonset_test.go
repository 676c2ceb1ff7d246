package podsets

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/test/fakenodes"
)

func podsByNode(t *testing.T, ns string) map[string][]corev1.Pod {
	t.Helper()
	l, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]corev1.Pod{}
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out
}

// onEveryNode reports whether each named node has exactly one ready pod of image.
func onEveryNode(t *testing.T, ns, image string, names ...string) bool {
	by := podsByNode(t, ns)
	for _, n := range names {
		if len(by[n]) != 1 || by[n][0].Spec.Containers[0].Image != image || !ready(&by[n][0]) {
			return false
		}
	}
	return true
}

func TestDaemonSet(t *testing.T) {
	ns := namespace(t, "ds")
	ctx := context.Background()
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
		},
	}
	if _, err := client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out := ok(t, "rollout", "status", "ds/agent", "-n", ns, "--timeout=30s")
	if !strings.Contains(out, `daemon set "agent" successfully rolled out`) {
		t.Errorf("rollout status: %q", out)
	}
	eventually(t, 10*time.Second, "a ready pod on every node", func() bool { return onEveryNode(t, ns, "agent:1", nodeNames...) })
	out = ok(t, "get", "ds", "-n", ns)
	if !regexp.MustCompile(`(?m)^NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE\n^agent\s+3\s+3\s+3\s+3\s+3\s+<none>\s+\S+\n$`).MatchString(out) {
		t.Errorf("kubectl get ds:\n%s", out)
	}

	// A new image rolls out node by node and rollout status follows it to the end.
	ok(t, "set", "image", "ds/agent", "agent=agent:2", "-n", ns)
	out = ok(t, "rollout", "status", "ds/agent", "-n", ns, "--timeout=60s")
	if !strings.Contains(out, `daemon set "agent" successfully rolled out`) {
		t.Errorf("rollout status after update: %q", out)
	}
	eventually(t, 10*time.Second, "agent:2 everywhere", func() bool { return onEveryNode(t, ns, "agent:2", nodeNames...) })
	hist := ok(t, "rollout", "history", "ds/agent", "-n", ns)
	if !regexp.MustCompile(`(?m)^1\s`).MatchString(hist) || !regexp.MustCompile(`(?m)^2\s`).MatchString(hist) {
		t.Errorf("rollout history:\n%s", hist)
	}

	// A node joins: it gets a pod. It leaves: its pod goes.
	if err := fakenodes.Register(ctx, client, "node-d"); err != nil {
		t.Fatal(err)
	}
	// node-d is not served by the fake nodes, so its pod stays unbound; pinned to node-d.
	eventually(t, 10*time.Second, "a pod for node-d", func() bool {
		l, _ := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		for _, p := range l.Items {
			if pinnedTo(&p) == "node-d" {
				return true
			}
		}
		return false
	})
	if err := client.CoreV1().Nodes().Delete(ctx, "node-d", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "node-d's pod gone", func() bool {
		l, _ := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return len(l.Items) == 3
	})
	eventually(t, 10*time.Second, "status of 3 nodes", func() bool {
		st, err := client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		s := st.Status
		return err == nil && s.DesiredNumberScheduled == 3 && s.CurrentNumberScheduled == 3 && s.NumberReady == 3 &&
			s.NumberAvailable == 3 && s.UpdatedNumberScheduled == 3 && s.NumberMisscheduled == 0 && s.ObservedGeneration == st.Generation
	})
}

func pinnedTo(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}
