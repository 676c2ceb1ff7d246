package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/controller/job"
)

const (
	jobCompletions = 200
	jobParallelism = 50
	// jobWorkers is upstream's default --concurrent-job-syncs.
	jobWorkers = 5
)

// BenchmarkJobCompletion: a Job with completions=200 parallelism=50, from create to its Complete
// condition, with the Job controller in this process against a `skiff server` process and a fake
// kubelet (also in this process) ending each pod Succeeded through pods/status as soon as it
// appears. In the same run, the floor: the API writes the Job needs per pod (create with the
// tracking finalizer, status to Succeeded, finalizer removal), made directly from 50 concurrent
// lanes. Sub-benchmarks differ in how long the controller gathers pod events before a sync.
func BenchmarkJobCompletion(b *testing.B) {
	s := startServer(b)
	cs := s.client(b)

	newNamespace(b, cs, "floor")
	floor := jobFloor(b, cs, "floor")

	for _, period := range []time.Duration{100 * time.Millisecond, time.Second} {
		b.Run(fmt.Sprintf("batch=%v", period), func(b *testing.B) {
			ns := fmt.Sprintf("job-%d", period.Milliseconds())
			newNamespace(b, cs, ns)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctrlClient := s.client(b)
			f := informers.NewSharedInformerFactory(ctrlClient, 0)
			jc, err := job.New(job.Config{Client: ctrlClient, Informers: f, SyncBatchPeriod: period,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			f.Start(ctx.Done())
			go jc.Run(ctx, jobWorkers)
			f.WaitForCacheSync(ctx.Done())
			benchKubelet(b, ctx, s.client(b), ns)

			w, err := cs.BatchV1().Jobs(ns).Watch(ctx, metav1.ListOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Stop()
			j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: batchv1.JobSpec{
				Completions: ptr.To[int32](jobCompletions), Parallelism: ptr.To[int32](jobParallelism),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
			b.ResetTimer()
			start := time.Now()
			if _, err := cs.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			writes := 0
			timeout := time.After(5 * time.Minute)
		wait:
			for {
				select {
				case ev := <-w.ResultChan():
					got, ok := ev.Object.(*batchv1.Job)
					if !ok {
						b.Fatalf("watch: %v", ev.Object)
					}
					if ev.Type == watch.Modified {
						writes++
					}
					for _, c := range got.Status.Conditions {
						if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
							if got.Status.Succeeded != jobCompletions {
								b.Fatalf("complete with %d succeeded", got.Status.Succeeded)
							}
							break wait
						}
					}
				case <-timeout:
					b.Fatal("job not complete after 5 minutes")
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(elapsed.Seconds(), "complete-s")
			b.ReportMetric(jobCompletions/elapsed.Seconds(), "pods/s")
			b.ReportMetric(float64(writes), "job-status-writes")
			b.ReportMetric(floor.Seconds(), "floor-s")
			b.ReportMetric(floor.Seconds()/elapsed.Seconds()*100, "pct-of-floor")
		})
	}
}

// jobFloor makes, for 200 pods over 50 concurrent lanes, the three writes each pod of a Job costs.
func jobFloor(b *testing.B, cs kubernetes.Interface, ns string) time.Duration {
	b.Helper()
	ctx := context.Background()
	next := make(chan int, jobCompletions)
	for i := range jobCompletions {
		next <- i
	}
	close(next)
	patch := []byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["batch.kubernetes.io/job-tracking"]}}`)
	var wg sync.WaitGroup
	start := time.Now()
	for range jobParallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Finalizers: []string{batchv1.JobTrackingFinalizer}},
					Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
				}, metav1.CreateOptions{})
				if err == nil {
					p.Status.Phase = corev1.PodSucceeded
					p, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
				}
				if err == nil {
					_, err = cs.CoreV1().Pods(ns).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// benchKubelet ends every new pod of ns Succeeded through pods/status, from 8 goroutines.
func benchKubelet(b *testing.B, ctx context.Context, cs kubernetes.Interface, ns string) {
	b.Helper()
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	work := make(chan *corev1.Pod, 1024)
	go func() {
		defer close(work)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				work <- p
			}
		}
	}()
	for range 8 {
		go func() {
			for p := range work {
				now := metav1.Now()
				p.Status.Phase = corev1.PodSucceeded
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", Image: "busybox",
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{StartedAt: now, FinishedAt: now}}}}
				if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
					b.Error(err)
				}
			}
		}()
	}
	b.Cleanup(w.Stop)
}
