package cronjob

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	// The binary must know every IANA zone even on hosts without /usr/share/zoneinfo.
	_ "time/tzdata"

	batchv1 "k8s.io/api/batch/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/job"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/pod"
	"github.com/skiff-dev/skiff/internal/cronschedule"
)

// MaxNameLength leaves room for the 11-character suffix the controller appends to job names
// (-<minutes since epoch>) within a 63-character label value.
const MaxNameLength = 52

// Strategy returns the registry strategy of batch/v1 cronjobs. Only metadata is selectable.
func Strategy() registry.Strategy {
	return registry.Typed[*batchv1.CronJob]{
		Default:              Default,
		Validate:             Validate,
		ValidateUpdate:       registry.IgnoringOld(Validate),
		ValidateStatusUpdate: func(_, _ *batchv1.CronJob) field.ErrorList { return nil },
	}.Strategy()
}

// Default applies the batch/v1 defaults; set values are kept. The job template gets the pod template
// defaults only: job-level defaults are applied to each job when the controller creates it.
func Default(cj *batchv1.CronJob) {
	s := &cj.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if s.Suspend == nil {
		s.Suspend = ptr.To(false)
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		s.SuccessfulJobsHistoryLimit = ptr.To[int32](3)
	}
	if s.FailedJobsHistoryLimit == nil {
		s.FailedJobsHistoryLimit = ptr.To[int32](1)
	}
	pod.DefaultPodTemplateSpec(&s.JobTemplate.Spec.Template)
}

var supportedConcurrency = []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}

// Validate checks a cronjob; updates are checked the same way since every field may change.
func Validate(cj *batchv1.CronJob) field.ErrorList {
	var errs field.ErrorList
	if len(cj.Name) > MaxNameLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name, fmt.Sprintf("must be no more than %d characters", MaxNameLength)))
	}
	specPath := field.NewPath("spec")
	s := &cj.Spec
	errs = append(errs, ValidateSchedule(s.Schedule, specPath.Child("schedule"))...)
	if s.TimeZone != nil {
		errs = append(errs, ValidateTimeZone(*s.TimeZone, specPath.Child("timeZone"))...)
	}
	switch {
	case s.ConcurrencyPolicy == "":
		errs = append(errs, field.Required(specPath.Child("concurrencyPolicy"), ""))
	case !slices.Contains(supportedConcurrency, s.ConcurrencyPolicy):
		errs = append(errs, field.NotSupported(specPath.Child("concurrencyPolicy"), s.ConcurrencyPolicy, supportedConcurrency))
	}
	if s.StartingDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*s.StartingDeadlineSeconds, specPath.Child("startingDeadlineSeconds"))...)
	}
	for _, c := range []struct {
		name string
		v    *int32
	}{{"successfulJobsHistoryLimit", s.SuccessfulJobsHistoryLimit}, {"failedJobsHistoryLimit", s.FailedJobsHistoryLimit}} {
		if c.v != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*c.v), specPath.Child(c.name))...)
		}
	}
	errs = append(errs, validateJobTemplate(&s.JobTemplate, specPath.Child("jobTemplate"))...)
	return errs
}

func validateJobTemplate(t *batchv1.JobTemplateSpec, fldPath *field.Path) field.ErrorList {
	metaPath := fldPath.Child("metadata")
	errs := metav1validation.ValidateLabels(t.Labels, metaPath.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, metaPath.Child("annotations"))...)
	specPath := fldPath.Child("spec")
	errs = append(errs, job.ValidateJobSpec(&t.Spec, specPath, false)...)
	// Each job's selector is generated from its own UID; a template cannot know it.
	if t.Spec.Selector != nil {
		errs = append(errs, field.Invalid(specPath.Child("selector"), t.Spec.Selector, "`selector` will be auto-generated"))
	}
	if t.Spec.ManualSelector != nil && *t.Spec.ManualSelector {
		errs = append(errs, field.NotSupported(specPath.Child("manualSelector"), *t.Spec.ManualSelector, []string{"nil", "false"}))
	}
	return errs
}

// ValidateSchedule checks a cron schedule. A TZ= or CRON_TZ= prefix is refused: the zone belongs in
// spec.timeZone, where it is validated and visible.
func ValidateSchedule(schedule string, fldPath *field.Path) field.ErrorList {
	if schedule == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if strings.Contains(schedule, "TZ") {
		return field.ErrorList{field.Invalid(fldPath, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")}
	}
	if _, err := cronschedule.Parse(schedule); err != nil {
		return field.ErrorList{field.Invalid(fldPath, schedule, err.Error())}
	}
	return nil
}

var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

// ValidateTimeZone checks an IANA time zone name. "Local" is refused: it would mean whatever zone the
// controller happens to run in.
func ValidateTimeZone(tz string, fldPath *field.Path) field.ErrorList {
	if tz == "" {
		return field.ErrorList{field.Invalid(fldPath, tz, "timeZone must be nil or non-empty string")}
	}
	if strings.EqualFold(tz, "Local") {
		return field.ErrorList{field.Invalid(fldPath, tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")}
	}
	for _, part := range strings.Split(tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneCharacters.MatchString(part) {
			return field.ErrorList{field.Invalid(fldPath, tz, fmt.Sprintf("unknown time zone %s", tz))}
		}
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return field.ErrorList{field.Invalid(fldPath, tz, err.Error())}
	}
	return nil
}
