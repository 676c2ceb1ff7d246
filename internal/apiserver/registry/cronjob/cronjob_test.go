package cronjob

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func base() *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule:    "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: registrytest.PodTemplate(nil)}},
		},
	}
	cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	Strategy().Default(cj)
	return cj
}

func TestDefault(t *testing.T) {
	s := base().Spec
	if s.ConcurrencyPolicy != batchv1.AllowConcurrent || *s.Suspend || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 {
		t.Errorf("defaults missing: %+v", s)
	}
	if s.JobTemplate.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Error("pod template not defaulted")
	}
	if s.JobTemplate.Spec.BackoffLimit != nil || s.JobTemplate.Spec.Completions != nil {
		t.Error("job-level defaults must not be applied to the template")
	}
	kept := &batchv1.CronJob{Spec: batchv1.CronJobSpec{ConcurrencyPolicy: batchv1.ForbidConcurrent, SuccessfulJobsHistoryLimit: ptr.To[int32](0)}}
	Default(kept)
	if kept.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || *kept.Spec.SuccessfulJobsHistoryLimit != 0 {
		t.Errorf("set values overridden: %+v", kept.Spec)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(cj *batchv1.CronJob)
		want   []string
	}{
		{"valid", func(cj *batchv1.CronJob) {}, nil},
		{"descriptor", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@hourly" }, nil},
		{"named fields", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 9 * jan-mar mon,fri" }, nil},
		{"time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Europe/Paris") }, nil},
		{"no schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, []string{"FieldValueRequired spec.schedule"}},
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" }, []string{"FieldValueInvalid spec.schedule"}},
		{"six fields", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 * * * * *" }, []string{"FieldValueInvalid spec.schedule"}},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }, []string{"FieldValueInvalid spec.schedule"}},
		{"unknown zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus") }, []string{"FieldValueInvalid spec.timeZone"}},
		{"Local zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Local") }, []string{"FieldValueInvalid spec.timeZone"}},
		{"bad concurrency", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" }, []string{"FieldValueNotSupported spec.concurrencyPolicy"}},
		{"negative history", func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](-1) }, []string{"FieldValueInvalid spec.failedJobsHistoryLimit"}},
		{"name too long", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) }, []string{"FieldValueInvalid metadata.name"}},
		{"restartPolicy Always", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		},
			[]string{"FieldValueNotSupported spec.jobTemplate.spec.template.spec.restartPolicy"}},
		{"selector in template", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, []string{"FieldValueInvalid spec.jobTemplate.spec.selector"}},
		{"manual selector", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.ManualSelector = ptr.To(true) },
			[]string{"FieldValueNotSupported spec.jobTemplate.spec.manualSelector"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj := base()
			tc.mutate(cj)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), cj), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := base()
	cj := old.DeepCopy()
	cj.Spec.Schedule = "@daily"
	cj.Spec.Suspend = ptr.To(true)
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), cj, old))
	cj.Spec.Schedule = "every day"
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), cj, old), "FieldValueInvalid spec.schedule")
}
