package job

import (
	"context"
	"math"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func base() *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "1234-abcd"},
		Spec:       batchv1.JobSpec{Template: registrytest.PodTemplate(nil)},
	}
	j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	st := Strategy()
	st.Default(j)
	st.PrepareForCreate(context.Background(), j)
	return j
}

func TestDefault(t *testing.T) {
	j := base()
	s := j.Spec
	if *s.Completions != 1 || *s.Parallelism != 1 || *s.BackoffLimit != 6 || *s.CompletionMode != batchv1.NonIndexedCompletion ||
		*s.Suspend || *s.ManualSelector || *s.PodReplacementPolicy != batchv1.TerminatingOrFailed {
		t.Errorf("defaults missing: %+v", s)
	}
	cases := []struct {
		name  string
		spec  batchv1.JobSpec
		check func(s batchv1.JobSpec) bool
	}{
		{"parallelism only leaves completions unset", batchv1.JobSpec{Parallelism: ptr.To[int32](3)},
			func(s batchv1.JobSpec) bool { return s.Completions == nil && *s.Parallelism == 3 }},
		{"completions only", batchv1.JobSpec{Completions: ptr.To[int32](5)},
			func(s batchv1.JobSpec) bool { return *s.Completions == 5 && *s.Parallelism == 1 }},
		{"per-index backoff", batchv1.JobSpec{BackoffLimitPerIndex: ptr.To[int32](1)},
			func(s batchv1.JobSpec) bool { return *s.BackoffLimit == math.MaxInt32 }},
		{"failure policy", batchv1.JobSpec{PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}}},
			func(s batchv1.JobSpec) bool {
				return *s.PodReplacementPolicy == batchv1.Failed && s.PodFailurePolicy.Rules[0].OnPodConditions[0].Status == corev1.ConditionTrue
			}},
		{"kept values", batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Suspend: ptr.To(true)},
			func(s batchv1.JobSpec) bool { return *s.BackoffLimit == 0 && *s.Suspend }},
	}
	for _, tc := range cases {
		j := &batchv1.Job{Spec: tc.spec}
		Default(j)
		if !tc.check(j.Spec) {
			t.Errorf("%s: %+v", tc.name, j.Spec)
		}
	}
	labeled := &batchv1.Job{Spec: batchv1.JobSpec{Template: registrytest.PodTemplate(map[string]string{"app": "pi"})}}
	Default(labeled)
	if labeled.Labels["app"] != "pi" {
		t.Errorf("job labels not defaulted from template: %v", labeled.Labels)
	}
}

func TestPrepareForCreateGeneratesSelector(t *testing.T) {
	j := base()
	want := map[string]string{
		"controller-uid": "1234-abcd", batchv1.ControllerUidLabel: "1234-abcd",
		"job-name": "pi", batchv1.JobNameLabel: "pi",
	}
	for k, v := range want {
		if j.Spec.Template.Labels[k] != v {
			t.Errorf("template label %s = %q, want %q", k, j.Spec.Template.Labels[k], v)
		}
	}
	if len(j.Spec.Selector.MatchLabels) != 1 || j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] != "1234-abcd" {
		t.Errorf("selector = %+v", j.Spec.Selector)
	}

	manual := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "m"}, Spec: batchv1.JobSpec{ManualSelector: ptr.To(true), Template: registrytest.PodTemplate(map[string]string{"a": "b"})}}
	PrepareForCreate(manual)
	if manual.Spec.Selector != nil || len(manual.Spec.Template.Labels) != 1 {
		t.Errorf("manual selector job was changed: %+v", manual.Spec)
	}

	noUID := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	PrepareForCreate(noUID)
	if noUID.UID == "" || noUID.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] != string(noUID.UID) {
		t.Errorf("uid not assigned consistently: %q %+v", noUID.UID, noUID.Spec.Selector)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(j *batchv1.Job)
		want   []string
	}{
		{"valid", func(j *batchv1.Job) {}, nil},
		{"restartPolicy Always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }, []string{"FieldValueNotSupported spec.template.spec.restartPolicy"}},
		{"negative parallelism", func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](-1) }, []string{"FieldValueInvalid spec.parallelism"}},
		{"negative backoff", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](-1) }, []string{"FieldValueInvalid spec.backoffLimit"}},
		{"tampered uid label", func(j *batchv1.Job) { j.Spec.Template.Labels[batchv1.ControllerUidLabel] = "other" },
			[]string{"FieldValueInvalid spec.template.metadata.labels", "FieldValueInvalid spec.template.metadata.labels"}},
		{"indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, []string{"FieldValueRequired spec.completions"}},
		{"per-index backoff needs indexed", func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr.To[int32](1) }, []string{"FieldValueForbidden spec.backoffLimitPerIndex"}},
		{"bad completion mode", func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To[batchv1.CompletionMode]("Sometimes") }, []string{"FieldValueNotSupported spec.completionMode"}},
		{"failure policy needs Never", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}}}}
		}, []string{"FieldValueNotSupported spec.template.spec.restartPolicy"}},
		{"failure rule without requirement", func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailJob}}}
		}, []string{"FieldValueInvalid spec.podFailurePolicy.rules[0]"}},
		{"bad managedBy", func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("not a path") }, []string{"FieldValueInvalid spec.managedBy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := base()
			tc.mutate(j)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), j), tc.want...)
		})
	}
}

func TestValidateManualSelector(t *testing.T) {
	labels := map[string]string{"app": "pi"}
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi"}, Spec: batchv1.JobSpec{ManualSelector: ptr.To(true), Template: registrytest.PodTemplate(labels)}}
	j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	Default(j)
	PrepareForCreate(j)
	registrytest.ExpectErrors(t, Validate(j), "FieldValueRequired spec.selector")
	j.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	registrytest.ExpectErrors(t, Validate(j))
}

func TestValidateUpdate(t *testing.T) {
	cases := []struct {
		name      string
		suspended bool
		mutate    func(j *batchv1.Job)
		want      []string
	}{
		{"parallelism", false, func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](3) }, nil},
		{"suspend", false, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }, nil},
		{"selector", false, func(j *batchv1.Job) { j.Spec.Selector.MatchLabels["x"] = "y" }, []string{"FieldValueInvalid spec.selector", "FieldValueInvalid spec.template.metadata.labels"}},
		{"image", false, func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:2" }, []string{"FieldValueInvalid spec.template"}},
		{"completions", false, func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](4) }, []string{"FieldValueInvalid spec.completions"}},
		{"completion mode", false, func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) }, []string{"FieldValueInvalid spec.completionMode"}},
		{"node selector of running job", false, func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} }, []string{"FieldValueInvalid spec.template"}},
		{"node selector of suspended job", true, func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} }, nil},
		{"image of suspended job", true, func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:2" }, []string{"FieldValueInvalid spec.template"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := base()
			old.Spec.Suspend = ptr.To(tc.suspended)
			j := old.DeepCopy()
			tc.mutate(j)
			registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), j, old), tc.want...)
		})
	}
}

func TestValidateStatusAndSelectableFields(t *testing.T) {
	registrytest.ExpectErrors(t, ValidateStatus(&batchv1.JobStatus{Active: -1}), "FieldValueInvalid status.active")
	registrytest.ExpectErrors(t, ValidateStatus(&batchv1.JobStatus{UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{
		Succeeded: []types.UID{"a"}, Failed: []types.UID{"a"}}}), "FieldValueDuplicate status.uncountedTerminatedPods.failed[0]")
	j := base()
	j.Status.Succeeded = 2
	if got := Strategy().SelectableFields(j)["status.successful"]; got != "2" {
		t.Errorf("status.successful = %q", got)
	}
}
