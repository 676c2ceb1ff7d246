package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/test/fakenodes"
)

const deployReplicas = 100

func benchTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}}}
}

// BenchmarkDeployment100 measures a Deployment of 100 replicas through `skiff server`'s
// controllers (a real process, no node agent): from the Deployment's create until all 100 pods
// exist, and, with the test-only fake node binding pods and reporting them Running and Ready
// through the API, until the Deployment reports 100 available. The floor in the same run is the
// API work itself from 16 concurrent clients in the benchmark: 100 pod creates, and for
// availability the same plus a bind and a status write per pod.
func BenchmarkDeployment100(b *testing.B) {
	s := startServer(b)
	cs := s.client(b)
	ctx := context.Background()
	const rounds = 3
	var created, available, floorCreate, floorAvailable []time.Duration
	for r := range rounds {
		ns := fmt.Sprintf("created-%d", r)
		newNamespace(b, cs, ns)
		created = append(created, deployAndWait(b, cs, ns, deployReplicas, false))

		ns = fmt.Sprintf("available-%d", r)
		newNamespace(b, cs, ns)
		kctx, stop := context.WithCancel(ctx)
		if _, err := fakenodes.Start(kctx, s.client(b), fakenodes.Options{Nodes: []string{"node-" + ns}, Namespaces: []string{ns}, Workers: 16}); err != nil {
			b.Fatal(err)
		}
		available = append(available, deployAndWait(b, cs, ns, deployReplicas, true))
		stop()

		ns = fmt.Sprintf("floor-%d", r)
		newNamespace(b, cs, ns)
		c, a := apiFloor(b, s, ns)
		floorCreate, floorAvailable = append(floorCreate, c), append(floorAvailable, a)
	}
	b.ReportMetric(ms(median(created)), "create-to-all-pods-ms")
	b.ReportMetric(ms(median(floorCreate)), "floor-100-creates-ms")
	b.ReportMetric(ms(median(available)), "create-to-available-ms")
	b.ReportMetric(ms(median(floorAvailable)), "floor-100-create-bind-status-ms")
	b.Logf("rounds: created %v floor %v; available %v floor %v", created, floorCreate, available, floorAvailable)
}

func median(d []time.Duration) time.Duration {
	l := latencies(append([]time.Duration(nil), d...))
	return l.pct(0.5)
}

// deployAndWait creates the Deployment and waits for all pods to exist, or with available for
// the Deployment to report them available.
func deployAndWait(b *testing.B, cs kubernetes.Interface, ns string, replicas int, available bool) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var w watch.Interface
	var err error
	if available {
		w, err = cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
	} else {
		w, err = cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	}
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(replicas)),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}}, Template: benchTemplate()}}
	start := time.Now()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	pods := map[string]bool{}
	for ev := range w.ResultChan() {
		switch o := ev.Object.(type) {
		case *corev1.Pod:
			if ev.Type == watch.Added {
				pods[o.Name] = true
			}
			if len(pods) >= replicas {
				return time.Since(start)
			}
		case *appsv1.Deployment:
			if o.Status.AvailableReplicas >= int32(replicas) {
				return time.Since(start)
			}
		}
	}
	b.Fatalf("%s: watch ended before the Deployment was done (%d pods seen)", ns, len(pods))
	return 0
}

// apiFloor does the API writes of the same outcome directly from 16 clients: 100 pod creates
// (timed), then a bind and a status write per pod (timed together with the creates).
func apiFloor(b *testing.B, s *server, ns string) (create, all time.Duration) {
	clients := make([]kubernetes.Interface, writers)
	for i := range clients {
		clients[i] = s.client(b)
	}
	ctx := context.Background()
	node := "floor-node-" + ns
	if _, err := clients[0].CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	tmpl := benchTemplate()
	pods := make([]*corev1.Pod, deployReplicas+1)
	var mu sync.Mutex
	_, create = runWriters(b, deployReplicas, func(w int, i int64) error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("floor-%d", i), Labels: tmpl.Labels}, Spec: tmpl.Spec}
		out, err := clients[w].CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		mu.Lock()
		pods[i] = out
		mu.Unlock()
		return err
	})
	_, rest := runWriters(b, deployReplicas, func(w int, i int64) error {
		p := pods[i]
		if err := clients[w].CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name},
			Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		// No resourceVersion: an unconditional status write, one request as the fake node's.
		fresh := p.DeepCopy()
		fresh.ResourceVersion = ""
		now := metav1.Now()
		fresh.Status.Phase = corev1.PodRunning
		fresh.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		_, err := clients[w].CoreV1().Pods(ns).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
		return err
	})
	return create, create + rest
}

// BenchmarkDeployment1000 measures a Deployment of 1,000 replicas through `skiff server`'s
// controllers, from the Deployment's create until a pod watch has seen all 1,000 pods (the issue's
// "fully created"; no node). Two floors in the same run, each 1,000 pod creates: from 16
// concurrent clients (the server's write rate), and in the ReplicaSet controller's own shape —
// one client, slow-start batches of 1, 2, 4, ... in parallel, at most 500 per sync, each batch
// waiting for the previous — which is the least the controller's protocol allows.
func BenchmarkDeployment1000(b *testing.B) {
	const replicas, rounds = 1000, 3
	s := startServer(b)
	cs := s.client(b)
	var created, floor16, floorShape []time.Duration
	for r := range rounds {
		ns := fmt.Sprintf("created-%d", r)
		newNamespace(b, cs, ns)
		created = append(created, deployAndWait(b, cs, ns, replicas, false))

		ns = fmt.Sprintf("floor-%d", r)
		newNamespace(b, cs, ns)
		floor16 = append(floor16, createPods(b, s, ns, replicas))

		ns = fmt.Sprintf("shape-%d", r)
		newNamespace(b, cs, ns)
		floorShape = append(floorShape, createPodsSlowStart(b, s.client(b), ns, replicas, 500))
	}
	b.ReportMetric(ms(median(created)), "create-to-all-pods-ms")
	b.ReportMetric(ms(median(floor16)), "floor-1000-creates-16-clients-ms")
	b.ReportMetric(ms(median(floorShape)), "floor-1000-creates-slow-start-ms")
	b.Logf("rounds: created %v; floor 16 clients %v; floor slow-start %v; load %s", created, floor16, floorShape, loadavg())
}

// createPods creates n pods of the benchmark template from 16 clients and returns the wall time.
func createPods(b *testing.B, s *server, ns string, n int) time.Duration {
	clients := make([]kubernetes.Interface, writers)
	for i := range clients {
		clients[i] = s.client(b)
	}
	tmpl := benchTemplate()
	_, d := runWriters(b, n, func(w int, i int64) error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("floor-%d", i), Labels: tmpl.Labels}, Spec: tmpl.Spec}
		_, err := clients[w].CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
		return err
	})
	return d
}

// createPodsSlowStart creates n pods the way the ReplicaSet controller does: syncs of at most
// burst creates, each in batches of 1, 2, 4, ... whose creates run in parallel.
func createPodsSlowStart(b *testing.B, cs kubernetes.Interface, ns string, n, burst int) time.Duration {
	tmpl := benchTemplate()
	var next atomic.Int64
	start := time.Now()
	for left := n; left > 0; {
		sync1 := min(left, burst)
		left -= sync1
		for batch := 1; sync1 > 0; batch *= 2 {
			k := min(batch, sync1)
			sync1 -= k
			var wg sync.WaitGroup
			for range k {
				wg.Go(func() {
					p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("shape-%d", next.Add(1)), Labels: tmpl.Labels}, Spec: tmpl.Spec}
					if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
		}
	}
	return time.Since(start)
}
