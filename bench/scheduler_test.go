package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// schedClients is how many concurrent creators the scheduling benchmark uses: upstream's figure
// in the issue came from 32.
const schedClients = 32

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// runClients runs n operations over schedClients concurrent clients, each with its own
// connection, and returns when each started and the wall time of the run.
func runClients(b *testing.B, clients []kubernetes.Interface, n int, op func(cs kubernetes.Interface, i int) error) ([]time.Time, time.Duration) {
	var next atomic.Int64
	started := make([]time.Time, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range clients {
		wg.Add(1)
		go func(cs kubernetes.Interface) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				started[i] = time.Now()
				if err := op(cs, i); err != nil {
					b.Error(err)
					return
				}
			}
		}(clients[w])
	}
	wg.Wait()
	return started, time.Since(t0)
}

func schedPod(ns, name, scheduler string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{
		SchedulerName: scheduler,
		Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}}},
	}}
}

// BenchmarkSchedule: end-to-end scheduling through skiff's real API server, etcd and in-process
// scheduler. As the floor, a first server takes the same number of pods for a scheduler nobody
// runs (the raw create rate) and is stopped. On a second one, fake Node objects (Ready, 32 CPUs,
// 256 GiB, 110 pods) are created through the API; then the measured pods are created by 32 concurrent clients while a watch records
// when each gets its node. Pods/s is pods divided by the time from the first create until the last
// pod is bound; latency is per pod from its create call to the watch seeing it bound.
// SKIFF_BENCH_SCHED_PODS and SKIFF_BENCH_SCHED_NODES (default 1000 and 100) set the size.
func BenchmarkSchedule(b *testing.B) {
	pods := envInt("SKIFF_BENCH_SCHED_PODS", 1000)
	nodes := envInt("SKIFF_BENCH_SCHED_NODES", 100)
	ctx := context.Background()
	// The floor runs on a server of its own, stopped before the measured one starts, so that the
	// measured server holds the workload's pods only when its memory is read.
	floorTime, floorCPU := schedFloor(b, pods)
	s := startServer(b)
	admin := s.client(b)
	clients := make([]kubernetes.Interface, schedClients)
	for i := range clients {
		clients[i] = s.client(b)
	}
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")}
	_, nodeTime := runClients(b, clients, nodes, func(cs kubernetes.Interface, i int) error {
		name := fmt.Sprintf("node-%d", i)
		_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{corev1.LabelHostname: name, corev1.LabelTopologyZone: fmt.Sprintf("zone-%d", i%3)}}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		// The node lifecycle controller taints a new Node at once, so the status write may race it.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			n.Status = corev1.NodeStatus{Capacity: rl, Allocatable: rl, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady,
				Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
			_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return err
		}
		_, err = cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, nodeLease(name), metav1.CreateOptions{})
		return err
	})
	// The node lifecycle controller marks a node Unknown (and taints it) 40 s after its last
	// heartbeat: renew the Leases as node agents would, but only every 20 s, so that a run that
	// reaches the target (10 s) writes none of them.
	renewCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go renewLeases(renewCtx, admin, nodes, 20*time.Second)
	newNamespace(b, admin, "sched")
	time.Sleep(time.Second) // let the scheduler's informers see the nodes

	w, err := admin.CoreV1().Pods("sched").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	bound := make(map[string]time.Time, pods)
	perNode := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted || p.Spec.NodeName == "" {
				continue
			}
			if _, seen := bound[p.Name]; !seen {
				bound[p.Name] = time.Now()
				perNode[p.Spec.NodeName]++
				if len(bound) == pods {
					return
				}
			}
		}
	}()
	profDone := s.startCPUProfile(b, fmt.Sprintf("schedule-%d-%d", pods, nodes), time.Duration(envInt("SKIFF_BENCH_PROFILE_SECONDS", 20))*time.Second)
	serverCPU0, clientCPU0 := pidCPU(s.cmd.Process.Pid), processCPU()
	b.ResetTimer()
	started, createTime := runClients(b, clients, pods, func(cs kubernetes.Interface, i int) error {
		_, err := cs.CoreV1().Pods("sched").Create(ctx, schedPod("sched", fmt.Sprintf("p-%d", i), ""), metav1.CreateOptions{})
		return err
	})
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d pods bound", len(bound), pods)
	}
	b.StopTimer()
	// CPU per pod is the figure least moved by what else runs on the machine.
	serverCPU, clientCPU := pidCPU(s.cmd.Process.Pid)-serverCPU0, processCPU()-clientCPU0
	first, last := started[0], time.Time{}
	var lat latencies
	for i, t := range started {
		if t.Before(first) {
			first = t
		}
		bt := bound[fmt.Sprintf("p-%d", i)]
		if bt.After(last) {
			last = bt
		}
		lat = append(lat, bt.Sub(t))
	}
	total := last.Sub(first)
	maxPer, minPer := 0, pods
	for _, c := range perNode {
		maxPer, minPer = max(maxPer, c), min(minPer, c)
	}
	if len(perNode) < nodes {
		minPer = 0
	}
	rssAnon, rss := memory(s.cmd.Process.Pid)
	profDone()
	s.heapProfile(b, fmt.Sprintf("schedule-%d-%d", pods, nodes))
	b.ReportMetric(float64(pods)/total.Seconds(), "pods/s")
	b.ReportMetric(ms(lat.pct(0.50)), "p50-ms")
	b.ReportMetric(ms(lat.pct(0.99)), "p99-ms")
	b.ReportMetric(float64(pods)/createTime.Seconds(), "creates/s")
	b.ReportMetric(float64(pods)/floorTime.Seconds(), "floor-creates/s")
	b.ReportMetric(float64(rss)/(1<<20), "server-rss-MB")
	b.ReportMetric(ms(serverCPU)/float64(pods), "server-cpu-ms/pod")
	b.ReportMetric(ms(floorCPU)/float64(pods), "floor-server-cpu-ms/pod")
	b.ReportMetric(ms(clientCPU)/float64(pods), "bench-cpu-ms/pod")
	fmt.Fprintf(os.Stderr, "schedule: %d pods on %d nodes (created in %v): all bound %v after the first create (%.0f pods/s), "+
		"creates %.0f/s, floor (unscheduled pods) %.0f/s; latency p50 %.1f ms p99 %.1f ms; pods per node %d..%d; "+
		"server RssAnon %.0f MB VmRSS %.0f MB; CPU per pod: server %.2f ms (floor %.2f ms), benchmark process %.2f ms; load %s\n",
		pods, nodes, nodeTime.Round(time.Millisecond), total.Round(time.Millisecond), float64(pods)/total.Seconds(),
		float64(pods)/createTime.Seconds(), float64(pods)/floorTime.Seconds(), ms(lat.pct(0.5)), ms(lat.pct(0.99)),
		minPer, maxPer, float64(rssAnon)/(1<<20), float64(rss)/(1<<20),
		ms(serverCPU)/float64(pods), ms(floorCPU)/float64(pods), ms(clientCPU)/float64(pods), loadavg())
}

// schedFloor creates pods pods for a scheduler nobody runs from schedClients clients on a fresh
// server and returns the wall time, the raw pod create rate on this machine now, and the server's
// CPU time meanwhile.
func schedFloor(b *testing.B, pods int) (time.Duration, time.Duration) {
	s := startServer(b)
	defer s.stop()
	clients := make([]kubernetes.Interface, schedClients)
	for i := range clients {
		clients[i] = s.client(b)
	}
	newNamespace(b, clients[0], "floor")
	cpu0 := pidCPU(s.cmd.Process.Pid)
	_, d := runClients(b, clients, pods, func(cs kubernetes.Interface, i int) error {
		_, err := cs.CoreV1().Pods("floor").Create(context.Background(), schedPod("floor", fmt.Sprintf("f-%d", i), "nobody"), metav1.CreateOptions{})
		return err
	})
	return d, pidCPU(s.cmd.Process.Pid) - cpu0
}

func nodeLease(node string) *coordinationv1.Lease {
	now := metav1.NewMicroTime(time.Now())
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now}}
}

// renewLeases renews node-0 .. node-(n-1)'s Leases every period until ctx ends.
func renewLeases(ctx context.Context, cs kubernetes.Interface, n int, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i := range n {
			l := nodeLease(fmt.Sprintf("node-%d", i))
			cur, err := cs.CoordinationV1().Leases(l.Namespace).Get(ctx, l.Name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			cur.Spec.RenewTime = l.Spec.RenewTime
			_, _ = cs.CoordinationV1().Leases(l.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
		}
	}
}
