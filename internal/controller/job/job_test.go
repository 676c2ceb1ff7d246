package job

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	clock   *clocktesting.FakeClock
	rec     *record.FakeRecorder
}

// newFixture seeds the fake API and the informer stores with objs; no informer runs, so the stores
// hold exactly what the test says (refresh copies the API's state into them).
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewSimpleClientset(objs...)
	var n atomic.Int64
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, n.Add(1))
			p.UID = types.UID("uid-" + p.Name)
		}
		return false, nil, nil
	})
	f := &fixture{t: t, client: client, factory: informers.NewSharedInformerFactory(client, 0),
		clock: clocktesting.NewFakeClock(t0), rec: record.NewFakeRecorder(1000)}
	c, err := New(Config{Client: client, Informers: f.factory, Recorder: f.rec, Clock: f.clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	f.refresh()
	client.ClearActions()
	return f
}

// refresh makes the informer stores show what the fake API holds, as if the informers had
// delivered every event (so every expectation is met).
func (f *fixture) refresh() {
	f.t.Helper()
	f.c.exp = newExpectations()
	ctx := context.Background()
	jobs, err := f.client.BatchV1().Jobs("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var jl []interface{}
	for i := range jobs.Items {
		jl = append(jl, &jobs.Items[i])
	}
	if err := f.factory.Batch().V1().Jobs().Informer().GetStore().Replace(jl, ""); err != nil {
		f.t.Fatal(err)
	}
	pods, err := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var pl []interface{}
	for i := range pods.Items {
		pl = append(pl, &pods.Items[i])
	}
	if err := f.factory.Core().V1().Pods().Informer().GetStore().Replace(pl, ""); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync(name string) time.Duration {
	f.t.Helper()
	after, err := f.c.sync(context.Background(), "ns/"+name)
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	return after
}

func (f *fixture) job(name string) *batchv1.Job {
	f.t.Helper()
	j, err := f.client.BatchV1().Jobs("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

func (f *fixture) pods() []corev1.Pod {
	f.t.Helper()
	l, err := f.client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return l.Items
}

// verbs lists the fake API calls as "verb resource[/subresource]", in order.
func (f *fixture) verbs() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" || a.GetVerb() == "get" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		out = append(out, s)
	}
	return out
}

func (f *fixture) count(verb string) int {
	n := 0
	for _, v := range f.verbs() {
		if v == verb {
			n++
		}
	}
	return n
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func newJob(name string, completions, parallelism int32, mutate ...func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("job-" + name), CreationTimestamp: metav1.Time{Time: t0}},
		Spec: batchv1.JobSpec{
			Completions: ptr.To(completions), Parallelism: ptr.To(parallelism), BackoffLimit: ptr.To[int32](6),
			CompletionMode: ptr.To(batchv1.NonIndexedCompletion), Suspend: ptr.To(false),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "job-" + name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{batchv1.ControllerUidLabel: "job-" + name, batchv1.JobNameLabel: name}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
			},
		},
	}
	for _, m := range mutate {
		m(j)
	}
	return j
}

func indexed(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) }

// newPodOf is a pod of j in phase, holding the tracking finalizer; index < 0 means none.
func newPodOf(j *batchv1.Job, name string, index int, phase corev1.PodPhase, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := newPod(j, index, 0)
	p.Name = name
	p.UID = types.UID("uid-" + name)
	p.CreationTimestamp = metav1.Time{Time: t0}
	p.Status.Phase = phase
	for _, m := range mutate {
		m(p)
	}
	return p
}

func exitCode(code int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: metav1.Time{Time: t0}}}}}
	}
}

func cond(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	return condition(&j.Status, t)
}

func TestCreatesUpToParallelism(t *testing.T) {
	cases := []struct {
		name                     string
		completions, parallelism int32
		succeeded                int32
		activePods               int
		wantCreates              int
	}{
		{"fresh job", 5, 2, 0, 0, 2},
		{"parallelism above remaining completions", 5, 3, 3, 0, 2},
		{"one running", 5, 2, 1, 1, 1},
		{"parallelism lowered", 5, 1, 0, 2, 0},
		{"all succeeded but not yet judged", 2, 2, 2, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newJob("j", tc.completions, tc.parallelism)
			j.Status.Succeeded = tc.succeeded
			objs := []runtime.Object{j}
			for i := range tc.activePods {
				objs = append(objs, newPodOf(j, fmt.Sprintf("a%d", i), noIndex, corev1.PodRunning))
			}
			f := newFixture(t, objs...)
			f.sync("j")
			if got := f.count("create pods"); got != tc.wantCreates {
				t.Errorf("created %d pods, want %d (%v)", got, tc.wantCreates, f.verbs())
			}
			if tc.activePods > int(tc.parallelism) {
				if got := f.count("delete pods"); got != tc.activePods-int(tc.parallelism) {
					t.Errorf("deleted %d pods, want %d", got, tc.activePods-int(tc.parallelism))
				}
			}
			got := f.job("j")
			wantActive := int32(min(tc.activePods, int(tc.parallelism)) + tc.wantCreates)
			if got.Status.Active != wantActive || got.Status.StartTime == nil || !got.Status.StartTime.Time.Equal(t0) {
				t.Errorf("status active=%d startTime=%v, want %d and %v", got.Status.Active, got.Status.StartTime, wantActive, t0)
			}
		})
	}
}

func TestCreatedPodShape(t *testing.T) {
	j := newJob("work", 1, 1)
	f := newFixture(t, j)
	f.sync("work")
	pods := f.pods()
	if len(pods) != 1 {
		t.Fatalf("%d pods", len(pods))
	}
	p := pods[0]
	ref := metav1.GetControllerOf(&p)
	switch {
	case !strings.HasPrefix(p.Name, "work-"):
		t.Errorf("name %q", p.Name)
	case ref == nil || ref.UID != j.UID || ref.Kind != "Job" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion:
		t.Errorf("controller ref %+v", ref)
	case !hasTrackingFinalizer(&p):
		t.Errorf("no tracking finalizer: %v", p.Finalizers)
	case p.Labels[batchv1.JobNameLabel] != "work" || p.Labels[batchv1.ControllerUidLabel] != string(j.UID):
		t.Errorf("labels %v", p.Labels)
	}
	if ev := f.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Normal SuccessfulCreate Created pod: work-") {
		t.Errorf("events %q", ev)
	}
}

func TestIndexedPods(t *testing.T) {
	j := newJob("idx", 4, 2, indexed)
	j.Status.CompletedIndexes = "0"
	j.Status.Succeeded = 1
	f := newFixture(t, j, newPodOf(j, "idx-1-a", 1, corev1.PodRunning))
	f.sync("idx")
	var created *corev1.Pod
	for _, p := range f.pods() {
		if p.Name != "idx-1-a" {
			created = &p
		}
	}
	if created == nil || f.count("create pods") != 1 {
		t.Fatalf("want one created pod, got %v", f.verbs())
	}
	env := created.Spec.Containers[0].Env
	switch {
	case created.Annotations[batchv1.JobCompletionIndexAnnotation] != "2" || created.Labels[batchv1.JobCompletionIndexAnnotation] != "2":
		t.Errorf("index 2 expected (0 done, 1 running): %v %v", created.Annotations, created.Labels)
	case !strings.HasPrefix(created.Name, "idx-2-") || created.Spec.Hostname != "idx-2":
		t.Errorf("name %q hostname %q", created.Name, created.Spec.Hostname)
	case len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']":
		t.Errorf("env %+v", env)
	}
}

func TestIndexedDuplicatesAndDoneIndexes(t *testing.T) {
	j := newJob("idx", 3, 3, indexed)
	j.Status.CompletedIndexes = "2"
	j.Status.Succeeded = 1
	older := newPodOf(j, "idx-0-old", 0, corev1.PodRunning, func(p *corev1.Pod) {
		p.Spec.NodeName = "n"
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	})
	dup := newPodOf(j, "idx-0-new", 0, corev1.PodPending, func(p *corev1.Pod) { p.CreationTimestamp = metav1.Time{Time: t0.Add(time.Second)} })
	done := newPodOf(j, "idx-2-late", 2, corev1.PodRunning)
	// A second success of index 2 is no completion.
	again := newPodOf(j, "idx-2-again", 2, corev1.PodSucceeded)
	f := newFixture(t, j, older, dup, done, again)
	f.sync("idx")
	var deleted []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			deleted = append(deleted, d.GetName())
		}
	}
	if strings.Join(deleted, ",") != "idx-0-new,idx-2-late" && strings.Join(deleted, ",") != "idx-2-late,idx-0-new" {
		t.Errorf("deleted %v, want the pending duplicate of 0 and the running pod of done index 2", deleted)
	}
	got := f.job("idx")
	if got.Status.Succeeded != 1 || got.Status.CompletedIndexes != "2" {
		t.Errorf("succeeded %d completed %q: a repeated index must not count", got.Status.Succeeded, got.Status.CompletedIndexes)
	}
	if f.count("create pods") != 1 {
		t.Errorf("want index 1 created: %v", f.verbs())
	}
}

func TestTrackingFinalizerOrder(t *testing.T) {
	j := newJob("j", 3, 1)
	f := newFixture(t, j, newPodOf(j, "p1", noIndex, corev1.PodSucceeded))
	f.sync("j")
	v := f.verbs()
	// Outcome recorded, then the finalizer goes, then the counter moves; a new pod replaces it.
	want := []string{"update jobs/status", "patch pods", "create pods", "update jobs/status"}
	if strings.Join(v, ";") != strings.Join(want, ";") {
		t.Fatalf("calls %v, want %v", v, want)
	}
	first := f.client.Actions()[0].(k8stesting.UpdateAction).GetObject().(*batchv1.Job)
	if u := first.Status.UncountedTerminatedPods; u == nil || len(u.Succeeded) != 1 || first.Status.Succeeded != 0 {
		t.Errorf("first write %+v", first.Status)
	}
	got := f.job("j")
	if got.Status.Succeeded != 1 || len(got.Status.UncountedTerminatedPods.Succeeded) != 0 || got.Status.Active != 1 {
		t.Errorf("status %+v", got.Status)
	}
	for _, p := range f.pods() {
		if p.Name == "p1" && hasTrackingFinalizer(&p) {
			t.Error("finalizer still on p1")
		}
	}

	// The cache has not seen the finalizer go: the pod must not count twice.
	f.client.ClearActions()
	f.factory.Batch().V1().Jobs().Informer().GetStore().Update(got)
	f.sync("j")
	if got := f.job("j"); got.Status.Succeeded != 1 {
		t.Errorf("counted twice on a stale cache: succeeded %d", got.Status.Succeeded)
	}
}

func TestUncountedFromEarlierSyncIsFlushed(t *testing.T) {
	j := newJob("j", 2, 1)
	p := newPodOf(j, "p1", noIndex, corev1.PodFailed)
	p.Finalizers = nil // released, but the counter was not written before a crash
	j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Failed: []types.UID{p.UID}}
	f := newFixture(t, j, p)
	f.sync("j")
	if got := f.job("j"); got.Status.Failed != 1 || len(got.Status.UncountedTerminatedPods.Failed) != 0 {
		t.Errorf("status %+v", got.Status)
	}
}

func TestCompletes(t *testing.T) {
	j := newJob("j", 2, 2)
	j.Status.Succeeded = 1
	j.Status.StartTime = &metav1.Time{Time: t0.Add(-time.Minute)}
	f := newFixture(t, j, newPodOf(j, "p2", noIndex, corev1.PodSucceeded))
	f.clock.Step(time.Second)
	f.sync("j")
	got := f.job("j")
	sc, complete := cond(got, batchv1.JobSuccessCriteriaMet), cond(got, batchv1.JobComplete)
	switch {
	case sc == nil || sc.Reason != batchv1.JobReasonCompletionsReached:
		t.Errorf("SuccessCriteriaMet %+v", sc)
	case complete == nil || complete.Status != corev1.ConditionTrue || complete.Message != "Reached expected number of succeeded pods":
		t.Errorf("Complete %+v", complete)
	case got.Status.CompletionTime == nil || !got.Status.CompletionTime.Time.Equal(t0.Add(time.Second)):
		t.Errorf("completionTime %v", got.Status.CompletionTime)
	case got.Status.Succeeded != 2 || got.Status.Active != 0:
		t.Errorf("status %+v", got.Status)
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Normal Completed Job completed" {
		t.Errorf("events %q", ev)
	}
}

func TestBackoffLimitExceeded(t *testing.T) {
	j := newJob("j", 1, 1, func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](1) })
	j.Status.Failed = 1
	f := newFixture(t, j, newPodOf(j, "p2", noIndex, corev1.PodFailed, exitCode(1)))
	f.sync("j")
	got := f.job("j")
	if c := cond(got, batchv1.JobFailed); c == nil || c.Reason != "BackoffLimitExceeded" || c.Message != "Job has reached the specified backoff limit" {
		t.Fatalf("Failed %+v (conditions %+v)", c, got.Status.Conditions)
	}
	if c := cond(got, batchv1.JobFailureTarget); c == nil || c.Reason != "BackoffLimitExceeded" {
		t.Errorf("FailureTarget %+v", c)
	}
	if got.Status.Failed != 2 || f.count("create pods") != 0 {
		t.Errorf("failed %d, creates %d", got.Status.Failed, f.count("create pods"))
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Warning BackoffLimitExceeded Job has reached the specified backoff limit" {
		t.Errorf("events %q", ev)
	}
}

func TestRecreateBackoff(t *testing.T) {
	j := newJob("j", 1, 1)
	f := newFixture(t, j, newPodOf(j, "p1", noIndex, corev1.PodFailed, exitCode(1)))
	after := f.sync("j")
	if f.count("create pods") != 0 || after != 10*time.Second {
		t.Fatalf("first failure: creates %d, requeue %v; want none and 10s", f.count("create pods"), after)
	}
	f.refresh()
	f.clock.Step(10 * time.Second)
	f.sync("j")
	if f.count("create pods") != 1 {
		t.Fatalf("after 10s: %v", f.verbs())
	}
	// The replacement fails too, 5 s later: the next delay is 20 s from then.
	f.refresh()
	f.client.ClearActions()
	for _, p := range f.pods() {
		if p.Name != "p1" {
			p.Status.Phase = corev1.PodFailed
			exitCode(1)(&p)
			p.Status.ContainerStatuses[0].State.Terminated.FinishedAt = metav1.Time{Time: t0.Add(15 * time.Second)}
			if _, err := f.client.CoreV1().Pods("ns").UpdateStatus(context.Background(), &p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.refresh()
	f.client.ClearActions()
	f.clock.Step(5 * time.Second)
	if after := f.sync("j"); after != 20*time.Second || f.count("create pods") != 0 {
		t.Errorf("second failure: requeue %v creates %d, want 20s and none", after, f.count("create pods"))
	}
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {6, 320 * time.Second}, {7, 6 * time.Minute}, {50, 6 * time.Minute}} {
		if got := backoffDelay(tc.failures); got != tc.want {
			t.Errorf("backoffDelay(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestActiveDeadline(t *testing.T) {
	j := newJob("j", 1, 1, func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) })
	j.Status.StartTime = &metav1.Time{Time: t0}
	f := newFixture(t, j, newPodOf(j, "p1", noIndex, corev1.PodRunning))
	f.clock.Step(30 * time.Second)
	if after := f.sync("j"); after != 30*time.Second {
		t.Errorf("requeue %v, want the 30 s left", after)
	}
	f.refresh()
	f.client.ClearActions()
	f.clock.Step(30 * time.Second)
	f.sync("j")
	got := f.job("j")
	if c := cond(got, batchv1.JobFailureTarget); c == nil || c.Reason != "DeadlineExceeded" {
		t.Fatalf("FailureTarget %+v", got.Status.Conditions)
	}
	if cond(got, batchv1.JobFailed) != nil || f.count("delete pods") != 1 || *got.Status.Terminating != 1 {
		t.Fatalf("want the pod deleted and Failed to wait for it: %v %+v", f.verbs(), got.Status)
	}
	// The fake API deletes at once; the next sync sees nothing left and fails the job.
	f.refresh()
	f.sync("j")
	got = f.job("j")
	if c := cond(got, batchv1.JobFailed); c == nil || c.Reason != "DeadlineExceeded" || c.Message != "Job was active longer than specified deadline" {
		t.Errorf("Failed %+v", got.Status.Conditions)
	}
}

func TestDeletedRunningPodCountsAsFailedWhenJobFails(t *testing.T) {
	j := newJob("j", 1, 1, func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](1) })
	j.Status.StartTime = &metav1.Time{Time: t0}
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "DeadlineExceeded", Message: msgDeadline}}
	p := newPodOf(j, "p1", noIndex, corev1.PodRunning, func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: t0} })
	f := newFixture(t, j, p)
	f.sync("j")
	got := f.job("j")
	if got.Status.Failed != 1 || f.count("patch pods") != 1 {
		t.Errorf("failed %d, calls %v", got.Status.Failed, f.verbs())
	}
	// The pod is released but still terminating in the cache: not final yet.
	if cond(got, batchv1.JobFailed) != nil {
		t.Errorf("Failed before the pod is gone")
	}
}

func TestPodFailurePolicy(t *testing.T) {
	policy := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{ContainerName: ptr.To("main"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{42}}},
	}}
	disrupted := func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
	}
	cases := []struct {
		name        string
		pod         func(*batchv1.Job) *corev1.Pod
		wantFailed  int32
		wantTarget  string
		wantMessage string
		wantCreate  bool
	}{
		{"exit 42 fails the job", func(j *batchv1.Job) *corev1.Pod { return newPodOf(j, "p", noIndex, corev1.PodFailed, exitCode(42)) },
			1, "PodFailurePolicy", "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1", false},
		{"disruption is ignored", func(j *batchv1.Job) *corev1.Pod {
			return newPodOf(j, "p", noIndex, corev1.PodFailed, exitCode(137), disrupted)
		}, 0, "", "", true},
		{"exit 1 counts", func(j *batchv1.Job) *corev1.Pod { return newPodOf(j, "p", noIndex, corev1.PodFailed, exitCode(1)) },
			1, "", "", false /* back-off delays the replacement */},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newJob("j", 1, 1, func(j *batchv1.Job) { j.Spec.PodFailurePolicy = policy })
			f := newFixture(t, j, tc.pod(j))
			f.sync("j")
			got := f.job("j")
			if got.Status.Failed != tc.wantFailed {
				t.Errorf("failed %d, want %d", got.Status.Failed, tc.wantFailed)
			}
			c := cond(got, batchv1.JobFailed)
			if tc.wantTarget == "" {
				if c != nil || cond(got, batchv1.JobFailureTarget) != nil {
					t.Errorf("unexpected failure %+v", got.Status.Conditions)
				}
			} else if c == nil || c.Reason != tc.wantTarget || c.Message != tc.wantMessage {
				t.Errorf("Failed %+v, want %s %q", c, tc.wantTarget, tc.wantMessage)
			}
			if (f.count("create pods") == 1) != tc.wantCreate {
				t.Errorf("creates %d, want replacement %v", f.count("create pods"), tc.wantCreate)
			}
			if f.count("patch pods") != 1 {
				t.Errorf("the finalizer must go in every case: %v", f.verbs())
			}
		})
	}
}

func TestBackoffLimitPerIndex(t *testing.T) {
	j := newJob("j", 3, 3, indexed, func(j *batchv1.Job) {
		j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
		j.Spec.BackoffLimit = ptr.To[int32](1 << 30)
	})
	first := newPodOf(j, "j-1-a", 1, corev1.PodFailed, exitCode(1))
	f := newFixture(t, j, first,
		newPodOf(j, "j-0-a", 0, corev1.PodRunning), newPodOf(j, "j-2-a", 2, corev1.PodRunning))
	f.clock.Step(time.Minute) // past the back-off
	f.sync("j")
	got := f.job("j")
	if got.Status.FailedIndexes == nil || *got.Status.FailedIndexes != "" {
		t.Errorf("one failure of 1 allowed: failedIndexes %v", got.Status.FailedIndexes)
	}
	var again *corev1.Pod
	for _, p := range f.pods() {
		if strings.HasPrefix(p.Name, "j-1-0") {
			again = &p
		}
	}
	if again == nil || again.Annotations[batchv1.JobIndexFailureCountAnnotation] != "1" {
		t.Fatalf("index 1 retried with failure count 1: %+v", again)
	}
	// It fails again: index 1 is failed for good, the others finish, the job fails with FailedIndexes.
	f.refresh()
	f.client.ClearActions()
	for _, p := range f.pods() {
		switch {
		case p.Name == again.Name:
			p.Status.Phase = corev1.PodFailed
		case p.Name == "j-0-a" || p.Name == "j-2-a":
			p.Status.Phase = corev1.PodSucceeded
		default:
			continue
		}
		if _, err := f.client.CoreV1().Pods("ns").UpdateStatus(context.Background(), &p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f.refresh()
	f.clock.Step(time.Hour)
	f.sync("j")
	got = f.job("j")
	if *got.Status.FailedIndexes != "1" || got.Status.CompletedIndexes != "0,2" {
		t.Errorf("failed %q completed %q", *got.Status.FailedIndexes, got.Status.CompletedIndexes)
	}
	if c := cond(got, batchv1.JobFailed); c == nil || c.Reason != "FailedIndexes" {
		t.Errorf("conditions %+v", got.Status.Conditions)
	}
	if f.count("create pods") != 0 {
		t.Errorf("a failed index must not be retried: %v", f.verbs())
	}
}

func TestSuspendAndResume(t *testing.T) {
	j := newJob("j", 4, 2, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })
	j.Status.StartTime = &metav1.Time{Time: t0.Add(-time.Hour)}
	f := newFixture(t, j, newPodOf(j, "a", noIndex, corev1.PodRunning), newPodOf(j, "b", noIndex, corev1.PodPending))
	f.sync("j")
	got := f.job("j")
	if c := cond(got, batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionTrue || c.Reason != "JobSuspended" {
		t.Fatalf("conditions %+v", got.Status.Conditions)
	}
	if f.count("delete pods") != 2 || f.count("create pods") != 0 {
		t.Fatalf("calls %v", f.verbs())
	}
	// The deleted pods are not failures.
	f.refresh()
	for _, p := range f.pods() {
		t.Errorf("pod %s left", p.Name)
	}
	got.Spec.Suspend = ptr.To(false)
	if _, err := f.client.BatchV1().Jobs("ns").Update(context.Background(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.clock.Step(time.Minute)
	f.sync("j")
	got = f.job("j")
	if c := cond(got, batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "JobResumed" {
		t.Errorf("conditions %+v", got.Status.Conditions)
	}
	if !got.Status.StartTime.Time.Equal(t0.Add(time.Minute)) || got.Status.Failed != 0 || f.count("create pods") != 2 {
		t.Errorf("startTime %v failed %d calls %v", got.Status.StartTime, got.Status.Failed, f.verbs())
	}
}

func TestNoWriteWhenNothingChanges(t *testing.T) {
	j := newJob("j", 2, 1)
	f := newFixture(t, j)
	f.sync("j")
	f.refresh()
	f.client.ClearActions()
	f.sync("j")
	if v := f.verbs(); len(v) != 0 {
		t.Errorf("second sync wrote %v", v)
	}
}

func TestExpectationsHoldCreates(t *testing.T) {
	j := newJob("j", 5, 3)
	f := newFixture(t, j)
	f.sync("j")
	// The informer has not shown the three pods yet: a second sync must not create more.
	f.client.ClearActions()
	f.sync("j")
	if n := f.count("create pods"); n != 0 {
		t.Errorf("created %d more pods on a stale cache", n)
	}
}

func TestFinishedJobReleasesPods(t *testing.T) {
	j := newJob("j", 1, 1)
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	f := newFixture(t, j, newPodOf(j, "p", noIndex, corev1.PodSucceeded))
	f.sync("j")
	if v := f.verbs(); strings.Join(v, ";") != "patch pods" {
		t.Errorf("calls %v", v)
	}
}

func TestIndexes(t *testing.T) {
	cases := []struct {
		in    string
		limit int
		want  string
		err   bool
	}{
		{"", 10, "", false},
		{"1,3-5,7", 10, "1,3-5,7", false},
		{"0,1,2,3", 10, "0-3", false},
		{"0,1,3,4", 10, "0,1,3,4", false},
		{"2-8", 5, "2-4", false},
		{"x", 5, "", true},
		{"4-2", 5, "", true},
	}
	for _, tc := range cases {
		s, err := parseIndexes(tc.in, tc.limit)
		if (err != nil) != tc.err || s.String() != tc.want {
			t.Errorf("parseIndexes(%q, %d) = %q, %v; want %q, err %v", tc.in, tc.limit, s.String(), err, tc.want, tc.err)
		}
	}
}
