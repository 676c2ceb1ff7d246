package resourcequota

import (
	"context"
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func pod(name, cpu string, phase corev1.PodPhase, deleting bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: rl("cpu", cpu, "memory", "64Mi"), Limits: rl("cpu", cpu, "memory", "64Mi")}}}},
		Status: corev1.PodStatus{Phase: phase}}
	if deleting {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func TestSync(t *testing.T) {
	hard := rl("pods", "10", "requests.cpu", "4", "limits.memory", "1Gi", "count/pods", "20", "services", "5",
		"services.nodeports", "4", "configmaps", "10", "count/secrets", "10")
	cases := []struct {
		name     string
		objs     []runtime.Object
		recorded corev1.ResourceList // status.used before
		want     corev1.ResourceList
		noWrite  bool
	}{
		{
			name: "stale usage re-measured",
			objs: []runtime.Object{
				pod("a", "500m", corev1.PodRunning, false), pod("b", "1", corev1.PodPending, false),
				pod("done", "2", corev1.PodSucceeded, false), pod("going", "2", corev1.PodRunning, true),
				&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "np"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
					Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}},
				&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}},
				&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "cm"}},
				&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}},
			},
			recorded: rl("pods", "9", "requests.cpu", "3", "limits.memory", "0", "count/pods", "9", "services", "0",
				"services.nodeports", "0", "configmaps", "0", "count/secrets", "0"),
			want: rl("pods", "2", "requests.cpu", "1500m", "limits.memory", "128Mi", "count/pods", "3", "services", "1",
				"services.nodeports", "2", "configmaps", "1", "count/secrets", "1"),
		},
		{
			name:     "everything deleted: usage released",
			recorded: rl("pods", "3", "requests.cpu", "3"),
			want: rl("pods", "0", "requests.cpu", "0", "limits.memory", "0", "count/pods", "0", "services", "0",
				"services.nodeports", "0", "configmaps", "0", "count/secrets", "0"),
		},
		{
			name: "already right: no write",
			recorded: rl("pods", "0", "requests.cpu", "0", "limits.memory", "0", "count/pods", "0", "services", "0",
				"services.nodeports", "0", "configmaps", "0", "count/secrets", "0"),
			want: rl("pods", "0", "requests.cpu", "0", "limits.memory", "0", "count/pods", "0", "services", "0",
				"services.nodeports", "0", "configmaps", "0", "count/secrets", "0"),
			noWrite: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "q"},
				Spec: corev1.ResourceQuotaSpec{Hard: hard}, Status: corev1.ResourceQuotaStatus{Hard: hard, Used: tc.recorded}}
			cs := fake.NewClientset(append(tc.objs, q)...)
			f := informers.NewSharedInformerFactory(cs, 0)
			c, err := New(Config{Client: cs, Informers: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			f.Core().V1().ResourceQuotas().Informer().GetIndexer().Add(q)
			cs.ClearActions()
			if err := c.sync(context.Background(), "ns/q"); err != nil {
				t.Fatal(err)
			}
			wrote := false
			for _, a := range cs.Actions() {
				wrote = wrote || a.GetVerb() == "update"
			}
			if wrote == tc.noWrite {
				t.Errorf("wrote = %v, want %v", wrote, !tc.noWrite)
			}
			got, err := cs.CoreV1().ResourceQuotas("ns").Get(context.Background(), "q", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Status.Used) != len(tc.want) {
				t.Errorf("used %v, want %v", got.Status.Used, tc.want)
			}
			for n, w := range tc.want {
				if g := got.Status.Used[n]; g.Cmp(w) != 0 {
					t.Errorf("used[%s] = %s, want %s", n, g.String(), w.String())
				}
			}
		})
	}
}
