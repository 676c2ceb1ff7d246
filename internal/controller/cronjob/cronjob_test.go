package cronjob

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
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

	"github.com/skiff-dev/skiff/internal/cronschedule"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestMostRecent(t *testing.T) {
	cases := []struct {
		name          string
		schedule      string
		earliest, now time.Time
		want          time.Time // zero: none
		missed        int
	}{
		{"none yet", "*/1 * * * *", t0.Add(-30 * time.Second), t0.Add(-10 * time.Second), time.Time{}, 0},
		{"one", "*/1 * * * *", t0.Add(-30 * time.Second), t0.Add(5 * time.Second), t0, 1},
		{"five", "*/1 * * * *", t0.Add(-30 * time.Second), t0.Add(4*time.Minute + 10*time.Second), t0.Add(4 * time.Minute), 5},
		{"exactly at now", "@hourly", t0.Add(-time.Minute), t0, t0, 1},
		{"three days of minutes", "* * * * *", t0.Add(-72 * time.Hour), t0.Add(30 * time.Second), t0, 72 * 60},
		{"weekday mornings over a year", "0 9 * * 1-5", t0.AddDate(-1, 0, 0), t0, time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := cronschedule.Parse(tc.schedule)
			if err != nil {
				t.Fatal(err)
			}
			got, missed := mostRecent(s, tc.earliest, tc.now)
			switch {
			case tc.want.IsZero() && got != nil:
				t.Errorf("got %v, want none", got)
			case !tc.want.IsZero() && (got == nil || !got.Equal(tc.want)):
				t.Errorf("got %v, want %v", got, tc.want)
			case tc.missed > 0 && missed != tc.missed:
				t.Errorf("missed %d, want %d", missed, tc.missed)
			case tc.missed == 0 && got != nil && missed <= tooManyMissed:
				t.Errorf("missed %d, want more than %d", missed, tooManyMissed)
			}
		})
	}
}

type fixture struct {
	t      *testing.T
	client *fake.Clientset
	c      *Controller
	rec    *record.FakeRecorder
}

func newFixture(t *testing.T, now time.Time, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewSimpleClientset(objs...)
	client.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		j := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		j.UID = types.UID("uid-" + j.Name)
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c, err := New(Config{Client: client, Informers: f, Recorder: rec, Clock: clocktesting.NewFakeClock(now), Location: time.UTC,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *batchv1.CronJob:
			f.Batch().V1().CronJobs().Informer().GetStore().Add(o)
		case *batchv1.Job:
			f.Batch().V1().Jobs().Informer().GetStore().Add(o)
		}
	}
	client.ClearActions()
	return &fixture{t: t, client: client, c: c, rec: rec}
}

func (f *fixture) sync() time.Duration {
	f.t.Helper()
	after, err := f.c.sync(context.Background(), "ns/cj")
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	return after
}

func (f *fixture) cronJob() *batchv1.CronJob {
	f.t.Helper()
	cj, err := f.client.BatchV1().CronJobs("ns").Get(context.Background(), "cj", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cj
}

// calls lists "verb name" of the job writes.
func (f *fixture) calls() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetResource().Resource != "jobs" {
			continue
		}
		switch a := a.(type) {
		case k8stesting.CreateAction:
			out = append(out, "create "+a.GetObject().(*batchv1.Job).Name)
		case k8stesting.DeleteAction:
			out = append(out, "delete "+a.GetName())
		}
	}
	return out
}

func (f *fixture) reasons() []string {
	var out []string
	for {
		select {
		case e := <-f.rec.Events:
			out = append(out, strings.Fields(e)[1])
		default:
			return out
		}
	}
}

func newCronJob(mutate ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "cj", Namespace: "ns", UID: "cj-uid", CreationTimestamp: metav1.Time{Time: t0.Add(-30 * time.Second)}},
		Spec: batchv1.CronJobSpec{Schedule: "*/1 * * * *", ConcurrencyPolicy: batchv1.AllowConcurrent, Suspend: ptr.To(false),
			SuccessfulJobsHistoryLimit: ptr.To[int32](3), FailedJobsHistoryLimit: ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}},
	}
	for _, m := range mutate {
		m(cj)
	}
	return cj
}

// ownedJob is a job of cj scheduled at t; cond is "" (running), Complete or Failed.
func ownedJob(cj *batchv1.CronJob, at time.Time, cond batchv1.JobConditionType) *batchv1.Job {
	name := jobNameFor(cj, at)
	j := jobFor(cj, at, name)
	j.UID = types.UID("uid-" + name)
	j.CreationTimestamp = metav1.Time{Time: at}
	j.Status.StartTime = &metav1.Time{Time: at}
	if cond != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue}}
		if cond == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: at.Add(10 * time.Second)}
		}
	}
	return j
}

func withActive(jobs ...*batchv1.Job) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		for _, j := range jobs {
			cj.Status.Active = append(cj.Status.Active, jobReference(j))
		}
	}
}

func TestSchedule(t *testing.T) {
	base := newCronJob()
	earlier := ownedJob(base, t0.Add(-time.Minute), "")
	due := fmt.Sprintf("create cj-%d", t0.Unix()/60)
	cases := []struct {
		name        string
		cj          *batchv1.CronJob
		jobs        []*batchv1.Job
		now         time.Time
		wantCalls   []string
		wantReasons []string
		wantAfter   time.Duration
		wantActive  int
	}{
		{"not yet due", newCronJob(), nil, t0.Add(-10 * time.Second), nil, nil, 10*time.Second + nextScheduleDelta, 0},
		{"due", newCronJob(), nil, t0.Add(5 * time.Second), []string{due}, []string{"SuccessfulCreate"}, 55*time.Second + nextScheduleDelta, 1},
		{"already handled", newCronJob(func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &metav1.Time{Time: t0} }), nil,
			t0.Add(5 * time.Second), nil, nil, 55*time.Second + nextScheduleDelta, 0},
		{"suspended", newCronJob(func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) }), nil, t0.Add(5 * time.Second), nil, nil, 0, 0},
		{"allow runs alongside", newCronJob(withActive(earlier)), []*batchv1.Job{earlier}, t0.Add(5 * time.Second),
			[]string{due}, []string{"SuccessfulCreate"}, 55*time.Second + nextScheduleDelta, 2},
		{"forbid waits", newCronJob(withActive(earlier), func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent }),
			[]*batchv1.Job{earlier}, t0.Add(5 * time.Second), nil, []string{"JobAlreadyActive"}, 55*time.Second + nextScheduleDelta, 1},
		{"replace deletes the running job", newCronJob(withActive(earlier), func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent }),
			[]*batchv1.Job{earlier}, t0.Add(5 * time.Second), []string{"delete " + earlier.Name, due}, []string{"SuccessfulDelete", "SuccessfulCreate"}, 55*time.Second + nextScheduleDelta, 1},
		{"missed the starting deadline", newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](10) }), nil,
			t0.Add(30 * time.Second), nil, []string{"MissSchedule"}, 30*time.Second + nextScheduleDelta, 0},
		{"within the starting deadline", newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](60) }), nil,
			t0.Add(30 * time.Second), []string{due}, []string{"SuccessfulCreate"}, 30*time.Second + nextScheduleDelta, 1},
		{"too many missed", newCronJob(func(cj *batchv1.CronJob) { cj.CreationTimestamp = metav1.Time{Time: t0.Add(-72 * time.Hour)} }), nil,
			t0.Add(5 * time.Second), []string{due}, []string{"TooManyMissedTimes", "SuccessfulCreate"}, 55*time.Second + nextScheduleDelta, 1},
		{"deadline bounds the missed count", newCronJob(func(cj *batchv1.CronJob) {
			cj.CreationTimestamp = metav1.Time{Time: t0.Add(-72 * time.Hour)}
			cj.Spec.StartingDeadlineSeconds = ptr.To[int64](200)
		}), nil, t0.Add(5 * time.Second), []string{due}, []string{"SuccessfulCreate"}, 55*time.Second + nextScheduleDelta, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.cj}
			for _, j := range tc.jobs {
				objs = append(objs, j)
			}
			f := newFixture(t, tc.now, objs...)
			after := f.sync()
			if got := f.calls(); !slices.Equal(got, tc.wantCalls) {
				t.Errorf("calls %v, want %v", got, tc.wantCalls)
			}
			if got := f.reasons(); !slices.Equal(got, tc.wantReasons) {
				t.Errorf("events %v, want %v", got, tc.wantReasons)
			}
			if after != tc.wantAfter {
				t.Errorf("requeue after %v, want %v", after, tc.wantAfter)
			}
			if got := f.cronJob(); len(got.Status.Active) != tc.wantActive {
				t.Errorf("active %v, want %d", got.Status.Active, tc.wantActive)
			}
		})
	}
}

func TestCreatedJob(t *testing.T) {
	cj := newCronJob(func(cj *batchv1.CronJob) {
		cj.Spec.TimeZone = ptr.To("America/New_York")
		cj.Spec.Schedule = "0 7 * * *" // 12:00 UTC is 07:00 in New York in November
		cj.CreationTimestamp = metav1.Time{Time: t0.Add(-time.Hour)}
	})
	f := newFixture(t, t0.Add(time.Second), cj)
	f.sync()
	j, err := f.client.BatchV1().Jobs("ns").Get(context.Background(), fmt.Sprintf("cj-%d", t0.Unix()/60), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("job not created: %v (%v)", err, f.calls())
	}
	ref := metav1.GetControllerOf(j)
	switch {
	case j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "2026-11-27T07:00:00-05:00":
		t.Errorf("scheduled annotation %q", j.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
	case ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob":
		t.Errorf("owner %+v", ref)
	case j.Labels["app"] != "x":
		t.Errorf("labels %v", j.Labels)
	}
	got := f.cronJob()
	if got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Time.Equal(t0) {
		t.Errorf("lastScheduleTime %v", got.Status.LastScheduleTime)
	}
}

func TestCompletedJobsAndHistory(t *testing.T) {
	cj := newCronJob(func(cj *batchv1.CronJob) {
		cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](2)
		cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](1)
		cj.Status.LastScheduleTime = &metav1.Time{Time: t0}
	})
	var jobs []*batchv1.Job
	for i := 5; i >= 1; i-- {
		jobs = append(jobs, ownedJob(cj, t0.Add(-time.Duration(i)*time.Minute), batchv1.JobComplete))
	}
	jobs = append(jobs, ownedJob(cj, t0.Add(-10*time.Minute), batchv1.JobFailed), ownedJob(cj, t0.Add(-9*time.Minute), batchv1.JobFailed))
	latest := jobs[4] // completed last, still listed as active
	withActive(latest)(cj)
	objs := []runtime.Object{cj}
	for _, j := range jobs {
		objs = append(objs, j)
	}
	f := newFixture(t, t0.Add(5*time.Second), objs...)
	f.sync()
	got := f.cronJob()
	if len(got.Status.Active) != 0 || got.Status.LastSuccessfulTime == nil || !got.Status.LastSuccessfulTime.Time.Equal(latest.Status.CompletionTime.Time) {
		t.Errorf("status %+v", got.Status)
	}
	want := []string{"delete " + jobs[0].Name, "delete " + jobs[1].Name, "delete " + jobs[2].Name, "delete " + jobs[5].Name}
	if calls := f.calls(); !slices.Equal(calls, want) {
		t.Errorf("calls %v, want %v", calls, want)
	}
	if r := f.reasons(); len(r) == 0 || r[0] != "SawCompletedJob" {
		t.Errorf("events %v", r)
	}
}

func TestActiveJobGone(t *testing.T) {
	gone := ownedJob(newCronJob(), t0.Add(-time.Minute), "")
	cj := newCronJob(withActive(gone), func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &metav1.Time{Time: t0} })
	f := newFixture(t, t0.Add(5*time.Second), cj)
	f.sync()
	if got := f.cronJob(); len(got.Status.Active) != 0 {
		t.Errorf("active %v", got.Status.Active)
	}
	if r := f.reasons(); !slices.Equal(r, []string{"MissingJob"}) {
		t.Errorf("events %v", r)
	}
}
