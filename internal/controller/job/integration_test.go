package job_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/controller/job"
	"github.com/skiff-dev/skiff/internal/controller/ttlafterfinished"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/embeddedkubectl"
	"github.com/skiff-dev/skiff/test/fakenodes"
)

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startControllers runs the Job and TTL controllers against s, recording events through the API.
func startControllers(t *testing.T, s *testserver.Server) {
	t.Helper()
	f := informers.NewSharedInformerFactory(s.Client, 0)
	bc := record.NewBroadcaster()
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.Client.CoreV1().Events("")})
	rec := bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "job-controller"})
	jc, err := job.New(job.Config{Client: s.Client, Informers: f, Recorder: rec, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := ttlafterfinished.New(ttlafterfinished.Config{Client: s.Client, Informers: f, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	f.Start(ctx.Done())
	wg.Add(2)
	go func() { defer wg.Done(); jc.Run(ctx, 2) }()
	go func() { defer wg.Done(); tc.Run(ctx, 1) }()
	t.Cleanup(func() { cancel(); wg.Wait(); f.Shutdown(); bc.Shutdown() })
}

// fakeNode binds every pod of ns to a fake node, which ends it at once with the exit code outcome
// returns for it; a negative code leaves the pod running.
func fakeNode(t *testing.T, cs kubernetes.Interface, ns string, outcome func(*corev1.Pod) int32) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := fakenodes.Start(ctx, cs, fakenodes.Options{Nodes: []string{"node-" + ns}, Namespaces: []string{ns},
		Outcome: func(p *corev1.Pod) fakenodes.Outcome {
			code := outcome(p)
			return fakenodes.Outcome{Exited: code >= 0, ExitCode: code}
		}}); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func newJob(name string, completions, parallelism int32, mutate ...func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{Completions: ptr.To(completions), Parallelism: ptr.To(parallelism),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}}}}
	for _, m := range mutate {
		m(j)
	}
	return j
}

func finished(t *testing.T, cs kubernetes.Interface, ns, name string) *batchv1.Job {
	t.Helper()
	var got *batchv1.Job
	eventually(t, 30*time.Second, "job "+name+" finished", func() bool {
		j, err := cs.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				got = j
				return true
			}
		}
		return false
	})
	return got
}

func hasCondition(j *batchv1.Job, t batchv1.JobConditionType, reason string) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue && c.Reason == reason {
			return true
		}
	}
	return false
}

func eventReasons(t *testing.T, cs kubernetes.Interface, ns, name string) map[string]int {
	t.Helper()
	evs, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == name {
			out[e.Reason] += int(max(e.Count, 1))
		}
	}
	return out
}

func TestJobs(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	cs := s.Client
	ctx := context.Background()
	startControllers(t, s)
	newNamespace(t, cs, "jobs")
	fakeNode(t, cs, "jobs", func(p *corev1.Pod) int32 {
		switch {
		case strings.HasPrefix(p.Name, "fails-"):
			return 3
		case strings.HasPrefix(p.Name, "runs-"):
			return -1
		}
		return 0
	})

	t.Run("completions 5 parallelism 2", func(t *testing.T) {
		w, err := cs.BatchV1().Jobs("jobs").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=five"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if _, err := cs.BatchV1().Jobs("jobs").Create(ctx, newJob("five", 5, 2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		j := finished(t, cs, "jobs", "five")
		if !hasCondition(j, batchv1.JobComplete, "CompletionsReached") || !hasCondition(j, batchv1.JobSuccessCriteriaMet, "CompletionsReached") {
			t.Fatalf("conditions %+v", j.Status.Conditions)
		}
		if j.Status.Succeeded != 5 || j.Status.Failed != 0 || j.Status.Active != 0 || j.Status.CompletionTime == nil || j.Status.StartTime == nil {
			t.Errorf("status %+v", j.Status)
		}
		// Never more than parallelism pods at once.
		for len(w.ResultChan()) > 0 {
			ev := <-w.ResultChan()
			if jj, ok := ev.Object.(*batchv1.Job); ok && jj.Status.Active > 2 {
				t.Errorf("active %d > parallelism 2", jj.Status.Active)
			}
		}
		pods, _ := cs.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=five"})
		if len(pods.Items) != 5 {
			t.Errorf("%d pods, want 5", len(pods.Items))
		}
		for _, p := range pods.Items {
			if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
				t.Errorf("pod %s keeps the tracking finalizer", p.Name)
			}
		}
		eventually(t, 10*time.Second, "events", func() bool {
			r := eventReasons(t, cs, "jobs", "five")
			return r["SuccessfulCreate"] == 5 && r["Completed"] == 1
		})
	})

	t.Run("indexed", func(t *testing.T) {
		if _, err := cs.BatchV1().Jobs("jobs").Create(ctx, newJob("idx", 4, 2, func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		j := finished(t, cs, "jobs", "idx")
		if !hasCondition(j, batchv1.JobComplete, "CompletionsReached") || j.Status.CompletedIndexes != "0-3" || j.Status.Succeeded != 4 {
			t.Fatalf("status %+v", j.Status)
		}
		pods, _ := cs.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=idx"})
		seen := map[string]bool{}
		for _, p := range pods.Items {
			ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			seen[ix] = true
			if p.Spec.Hostname != "idx-"+ix || !strings.HasPrefix(p.Name, "idx-"+ix+"-") || p.Spec.Containers[0].Env[0].Name != "JOB_COMPLETION_INDEX" {
				t.Errorf("pod %s: hostname %q env %+v", p.Name, p.Spec.Hostname, p.Spec.Containers[0].Env)
			}
		}
		if len(seen) != 4 || len(pods.Items) != 4 {
			t.Errorf("indexes %v over %d pods", seen, len(pods.Items))
		}
	})

	t.Run("backoff limit", func(t *testing.T) {
		if _, err := cs.BatchV1().Jobs("jobs").Create(ctx, newJob("fails", 2, 2, func(j *batchv1.Job) {
			j.Spec.BackoffLimit = ptr.To[int32](1)
		}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		j := finished(t, cs, "jobs", "fails")
		if !hasCondition(j, batchv1.JobFailed, "BackoffLimitExceeded") || !hasCondition(j, batchv1.JobFailureTarget, "BackoffLimitExceeded") || j.Status.Failed != 2 {
			t.Fatalf("status %+v", j.Status)
		}
		eventually(t, 10*time.Second, "BackoffLimitExceeded event", func() bool {
			r := eventReasons(t, cs, "jobs", "fails")
			t.Logf("events %v", r)
			return r["BackoffLimitExceeded"] == 1
		})
	})

	t.Run("ttl after finished", func(t *testing.T) {
		if _, err := cs.BatchV1().Jobs("jobs").Create(ctx, newJob("ttl", 1, 1, func(j *batchv1.Job) {
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
		}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "job deleted after its ttl", func() bool {
			_, err := cs.BatchV1().Jobs("jobs").Get(ctx, "ttl", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})

	t.Run("deleted job releases its pods", func(t *testing.T) {
		if _, err := cs.BatchV1().Jobs("jobs").Create(ctx, newJob("runs", 2, 2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "two running pods", func() bool {
			j, _ := cs.BatchV1().Jobs("jobs").Get(ctx, "runs", metav1.GetOptions{})
			return j != nil && j.Status.Active == 2
		})
		orphan := metav1.DeletePropagationOrphan
		if err := cs.BatchV1().Jobs("jobs").Delete(ctx, "runs", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "finalizers removed from the orphans", func() bool {
			pods, _ := cs.CoreV1().Pods("jobs").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=runs"})
			for _, p := range pods.Items {
				if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
					return false
				}
			}
			return len(pods.Items) == 2
		})
	})

	t.Run("kubectl get jobs", func(t *testing.T) {
		out := kubectl(t, s, "get", "jobs", "-n", "jobs")
		for _, want := range []string{"STATUS", "COMPLETIONS", "five", "Complete", "5/5", "fails", "Failed", "0/2"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl get jobs lacks %q:\n%s", want, out)
			}
		}
	})
}

// kubectl runs the real kubectl in-process against s.
func kubectl(t *testing.T, s *testserver.Server, args ...string) string {
	t.Helper()
	out, _ := embeddedkubectl.Run(t, s.Kubeconfig, args...)
	return out
}
