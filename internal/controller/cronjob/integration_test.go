package cronjob_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/controller/cronjob"
	"github.com/skiff-dev/skiff/internal/controller/job"
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

// fakeNode binds every pod of ns to a fake node, which ends it Succeeded at once.
func fakeNode(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := fakenodes.Start(ctx, cs, fakenodes.Options{Nodes: []string{"node-" + ns}, Namespaces: []string{ns},
		Outcome: func(*corev1.Pod) fakenodes.Outcome { return fakenodes.Outcome{Exited: true} }}); err != nil {
		t.Fatal(err)
	}
}

// TestEveryMinute runs a `*/1` CronJob for several minutes of a fake clock that runs 200 times
// faster than real time, with the Job controller and a fake node finishing its jobs.
func TestEveryMinute(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	cs := s.Client
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cron"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fakeNode(t, cs, "cron")

	clk := clocktesting.NewFakeClock(time.Now())
	f := informers.NewSharedInformerFactory(cs, 0)
	bc := record.NewBroadcaster()
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	rec := bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "cronjob-controller"})
	cc, err := cronjob.New(cronjob.Config{Client: cs, Informers: f, Recorder: rec, Clock: clk, Location: time.UTC, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	jc, err := job.New(job.Config{Client: cs, Informers: f, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	f.Start(cctx.Done())
	wg.Add(3)
	go func() { defer wg.Done(); cc.Run(cctx, 2) }()
	go func() { defer wg.Done(); jc.Run(cctx, 2) }()
	go func() {
		defer wg.Done()
		for cctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
			clk.Step(time.Second)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); f.Shutdown(); bc.Shutdown() })

	jw, err := cs.BatchV1().Jobs("cron").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer jw.Stop()
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "tick"}, Spec: batchv1.CronJobSpec{
		Schedule: "*/1 * * * *", SuccessfulJobsHistoryLimit: ptr.To[int32](2),
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}}}
	if _, err := cs.BatchV1().CronJobs("cron").Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	created := map[string]*batchv1.Job{}
	deleted := 0
	timeout := time.After(60 * time.Second)
	for len(created) < 4 || deleted < 2 {
		select {
		case ev := <-jw.ResultChan():
			j, ok := ev.Object.(*batchv1.Job)
			if !ok {
				continue
			}
			switch ev.Type {
			case watch.Added:
				created[j.Name] = j
			case watch.Deleted:
				deleted++
			}
		case <-timeout:
			t.Fatalf("after 60 s: %d jobs created, %d deleted", len(created), deleted)
		}
	}
	for name, j := range created {
		ts, err := time.Parse(time.RFC3339, j.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
		if err != nil || ts.Second() != 0 || name != fmt.Sprintf("tick-%d", ts.Unix()/60) {
			t.Errorf("job %s scheduled at %q (%v)", name, j.Annotations[batchv1.CronJobScheduledTimestampAnnotation], err)
		}
	}
	var got *batchv1.CronJob
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err = cs.BatchV1().CronJobs("cron").Get(ctx, "tick", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		jobs, _ := cs.BatchV1().Jobs("cron").List(ctx, metav1.ListOptions{})
		if got.Status.LastSuccessfulTime != nil && got.Status.LastScheduleTime != nil && len(jobs.Items) <= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v with %d jobs kept", got.Status, len(jobs.Items))
		}
		time.Sleep(50 * time.Millisecond)
	}
	evs, _ := cs.CoreV1().Events("cron").List(ctx, metav1.ListOptions{})
	reasons := map[string]bool{}
	for _, e := range evs.Items {
		reasons[e.Reason] = true
	}
	for _, r := range []string{"SuccessfulCreate", "SawCompletedJob", "SuccessfulDelete"} {
		if !reasons[r] {
			t.Errorf("no %s event (have %v)", r, reasons)
		}
	}
	out := kubectl(t, s, "get", "cronjobs", "-n", "cron")
	for _, want := range []string{"SCHEDULE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "tick", "*/1 * * * *", "False"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get cronjobs lacks %q:\n%s", want, out)
		}
	}
}

// kubectl runs the real kubectl in-process against s.
func kubectl(t *testing.T, s *testserver.Server, args ...string) string {
	t.Helper()
	out, _ := embeddedkubectl.Run(t, s.Kubeconfig, args...)
	return out
}
