package job

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/pod"
)

// The unprefixed label names predate batch.kubernetes.io/; pods still carry both because selectors and
// scripts in the wild use the old ones.
const (
	LegacyControllerUIDLabel = "controller-uid"
	LegacyJobNameLabel       = "job-name"
)

// maxParallelismForIndexedJob bounds indexed jobs, whose per-index bookkeeping lives in status.
const maxParallelismForIndexedJob = 100000

// Strategy returns the registry strategy of batch/v1 jobs.
func Strategy() registry.Strategy {
	return registry.Typed[*batchv1.Job]{
		Default:          Default,
		PrepareForCreate: PrepareForCreate,
		Validate:         Validate,
		ValidateUpdate:   ValidateUpdate,
		ValidateStatusUpdate: func(j, _ *batchv1.Job) field.ErrorList {
			return ValidateStatus(&j.Status)
		},
		SelectableFields: func(j *batchv1.Job) fields.Set {
			return fields.Set{"status.successful": strconv.Itoa(int(j.Status.Succeeded))}
		},
	}.Strategy()
}

// Default applies the batch/v1 defaults; set values are kept.
func Default(j *batchv1.Job) {
	s := &j.Spec
	// A job that names neither is a single pod run to completion.
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = ptr.To[int32](1)
	}
	if s.Parallelism == nil {
		s.Parallelism = ptr.To[int32](1)
	}
	if s.BackoffLimit == nil {
		if s.BackoffLimitPerIndex != nil {
			// Per-index limits take over; the global one must not cut them short.
			s.BackoffLimit = ptr.To[int32](math.MaxInt32)
		} else {
			s.BackoffLimit = ptr.To[int32](6)
		}
	}
	if len(j.Labels) == 0 && j.Spec.Template.Labels != nil {
		j.Labels = make(map[string]string, len(j.Spec.Template.Labels))
		for k, v := range j.Spec.Template.Labels {
			j.Labels[k] = v
		}
	}
	if s.CompletionMode == nil {
		s.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
	}
	if s.Suspend == nil {
		s.Suspend = ptr.To(false)
	}
	if s.PodFailurePolicy != nil {
		for i := range s.PodFailurePolicy.Rules {
			for k := range s.PodFailurePolicy.Rules[i].OnPodConditions {
				if c := &s.PodFailurePolicy.Rules[i].OnPodConditions[k]; c.Status == "" {
					c.Status = corev1.ConditionTrue
				}
			}
		}
	}
	if s.PodReplacementPolicy == nil {
		if s.PodFailurePolicy != nil {
			s.PodReplacementPolicy = ptr.To(batchv1.Failed)
		} else {
			s.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
		}
	}
	if s.ManualSelector == nil {
		s.ManualSelector = ptr.To(false)
	}
	pod.DefaultPodTemplateSpec(&s.Template)
}

// PrepareForCreate generates the selector and pod labels of a job that did not ask to manage its own
// (manualSelector unset or false). The selector keys on the job's UID, which makes it unique; the
// job-name label is for humans. It needs metadata.name and metadata.uid to be final: when the UID is
// still empty it assigns one, so the generic code must keep a UID that is already set.
func PrepareForCreate(j *batchv1.Job) {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return
	}
	if j.UID == "" {
		j.UID = uuid.NewUUID()
	}
	uid := string(j.UID)
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	// Labels the user already set are left alone: a conflicting one fails validation instead of being
	// silently replaced.
	for _, l := range generatedLabels(j.Name, uid) {
		if _, ok := j.Spec.Template.Labels[l[0]]; !ok {
			j.Spec.Template.Labels[l[0]] = l[1]
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = uid
	}
}

// generatedLabels are the pod labels of a job with a generated selector, as key/value pairs.
func generatedLabels(name, uid string) [][2]string {
	return [][2]string{
		{batchv1.ControllerUidLabel, uid}, {LegacyControllerUIDLabel, uid},
		{batchv1.JobNameLabel, name}, {LegacyJobNameLabel, name},
	}
}

// Validate checks a job on create.
func Validate(j *batchv1.Job) field.ErrorList {
	errs := ValidateJobSpec(&j.Spec, field.NewPath("spec"), true)
	if j.Spec.ManualSelector == nil || !*j.Spec.ManualSelector {
		errs = append(errs, validateGeneratedSelector(j)...)
	}
	return errs
}

// validateGeneratedSelector rejects a job whose generated selector or labels were tampered with: the
// pods it selects must be exactly those stamped with this job's UID.
func validateGeneratedSelector(j *batchv1.Job) field.ErrorList {
	if j.UID == "" {
		return field.ErrorList{field.Required(field.NewPath("metadata", "uid"), "")}
	}
	var errs field.ErrorList
	labelsPath := field.NewPath("spec", "template", "metadata", "labels")
	uid := string(j.UID)
	for _, l := range generatedLabels(j.Name, uid) {
		if k, v := l[0], l[1]; j.Spec.Template.Labels[k] != v {
			errs = append(errs, field.Invalid(labelsPath, j.Spec.Template.Labels, fmt.Sprintf("`selector` not auto-generated: label %s must be %q", k, v)))
		}
	}
	if j.Spec.Selector == nil || j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] != uid {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

// ValidateJobSpec checks a job spec at fldPath. requireSelector is false for CronJob job templates,
// whose selector is generated when each job is created.
func ValidateJobSpec(s *batchv1.JobSpec, fldPath *field.Path, requireSelector bool) field.ErrorList {
	var errs field.ErrorList
	for _, c := range []struct {
		name string
		v    *int32
	}{{"parallelism", s.Parallelism}, {"completions", s.Completions}, {"backoffLimit", s.BackoffLimit}, {"ttlSecondsAfterFinished", s.TTLSecondsAfterFinished}} {
		if c.v != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*c.v), fldPath.Child(c.name))...)
		}
	}
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*s.ActiveDeadlineSeconds, fldPath.Child("activeDeadlineSeconds"))...)
	}
	if requireSelector {
		errs = append(errs, pod.ValidateTemplateSelector(s.Selector, &s.Template, "job", fldPath)...)
	}
	errs = append(errs, pod.ValidatePodTemplateSpec(&s.Template, fldPath.Child("template"))...)

	indexed := s.CompletionMode != nil && *s.CompletionMode == batchv1.IndexedCompletion
	if m := s.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		errs = append(errs, field.NotSupported(fldPath.Child("completionMode"), *m, []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
	}
	if indexed {
		if s.Completions == nil {
			errs = append(errs, field.Required(fldPath.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
		if s.Parallelism != nil && *s.Parallelism > maxParallelismForIndexedJob {
			errs = append(errs, field.Invalid(fldPath.Child("parallelism"), *s.Parallelism,
				fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
		}
	}
	if s.BackoffLimitPerIndex != nil {
		p := fldPath.Child("backoffLimitPerIndex")
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*s.BackoffLimitPerIndex), p)...)
		if !indexed {
			errs = append(errs, field.Forbidden(p, "requires indexed completion mode"))
		}
	}
	if s.MaxFailedIndexes != nil {
		p := fldPath.Child("maxFailedIndexes")
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*s.MaxFailedIndexes), p)...)
		if s.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
		if s.Completions != nil && *s.MaxFailedIndexes > *s.Completions {
			errs = append(errs, field.Invalid(p, *s.MaxFailedIndexes, "must be less than or equal to completions"))
		}
	}
	if s.SuccessPolicy != nil && !indexed {
		errs = append(errs, field.Invalid(fldPath.Child("successPolicy"), s.SuccessPolicy, "requires indexed completion mode"))
	}
	errs = append(errs, validatePodFailurePolicy(s, fldPath.Child("podFailurePolicy"))...)
	if rp := s.PodReplacementPolicy; rp != nil {
		p := fldPath.Child("podReplacementPolicy")
		switch {
		case s.PodFailurePolicy != nil && *rp != batchv1.Failed:
			// A pod failure policy inspects finished pods, so replacements must wait for them.
			errs = append(errs, field.NotSupported(p, *rp, []batchv1.PodReplacementPolicy{batchv1.Failed}))
		case *rp != batchv1.Failed && *rp != batchv1.TerminatingOrFailed:
			errs = append(errs, field.NotSupported(p, *rp, []batchv1.PodReplacementPolicy{batchv1.TerminatingOrFailed, batchv1.Failed}))
		}
	}
	if m := s.ManagedBy; m != nil {
		p := fldPath.Child("managedBy")
		if len(*m) > 63 {
			errs = append(errs, field.TooLong(p, *m, 63))
		}
		errs = append(errs, validation.IsDomainPrefixedPath(p, *m)...)
	}

	rpPath := fldPath.Child("template", "spec", "restartPolicy")
	allowed := []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	if s.PodFailurePolicy != nil || s.BackoffLimitPerIndex != nil {
		// Both count individual pod failures, which a kubelet restarting containers in place hides.
		allowed = []corev1.RestartPolicy{corev1.RestartPolicyNever}
	}
	if !slices.Contains(allowed, s.Template.Spec.RestartPolicy) {
		errs = append(errs, field.NotSupported(rpPath, s.Template.Spec.RestartPolicy, allowed))
	}
	return errs
}

var supportedActions = []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex,
	batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore}

func validatePodFailurePolicy(s *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	if s.PodFailurePolicy == nil {
		return nil
	}
	var errs field.ErrorList
	rules := s.PodFailurePolicy.Rules
	if len(rules) > 20 {
		errs = append(errs, field.TooMany(fldPath.Child("rules"), len(rules), 20))
	}
	for i, r := range rules {
		p := fldPath.Child("rules").Index(i)
		switch {
		case !slices.Contains(supportedActions, r.Action):
			errs = append(errs, field.NotSupported(p.Child("action"), r.Action, supportedActions))
		case r.Action == batchv1.PodFailurePolicyActionFailIndex && s.BackoffLimitPerIndex == nil:
			errs = append(errs, field.Forbidden(p.Child("action"), "requires the backoffLimitPerIndex to be set"))
		}
		switch {
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			errs = append(errs, field.Invalid(p, r, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			errs = append(errs, field.Invalid(p, r, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
		if ec := r.OnExitCodes; ec != nil {
			ep := p.Child("onExitCodes")
			ops := []batchv1.PodFailurePolicyOnExitCodesOperator{batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn}
			if !slices.Contains(ops, ec.Operator) {
				errs = append(errs, field.NotSupported(ep.Child("operator"), ec.Operator, ops))
			}
			if len(ec.Values) == 0 {
				errs = append(errs, field.Required(ep.Child("values"), "at least one value is required"))
			}
			for k, v := range ec.Values {
				if v == 0 && ec.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn {
					errs = append(errs, field.Invalid(ep.Child("values").Index(k), v, "must not be 0 for the In operator"))
				}
				if k > 0 && v <= ec.Values[k-1] {
					errs = append(errs, field.Invalid(ep.Child("values").Index(k), v, "must be ordered"))
				}
			}
		}
		for k, c := range r.OnPodConditions {
			cp := p.Child("onPodConditions").Index(k)
			if c.Type == "" {
				errs = append(errs, field.Required(cp.Child("type"), ""))
			}
			valid := []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown}
			if !slices.Contains(valid, c.Status) {
				errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, valid))
			}
		}
	}
	return errs
}

// ValidateUpdate checks an update of a job: the selector, completion mode, failure policies and
// manager are fixed; the pod template too, except the scheduling directives of a suspended job that
// never started (so a queueing system can place it before letting it run).
func ValidateUpdate(j, old *batchv1.Job) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := ValidateJobSpec(&j.Spec, specPath, true)
	immutable := func(n, o any, p *field.Path) {
		errs = append(errs, apivalidation.ValidateImmutableField(n, o, p)...)
	}
	immutable(j.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))
	immutable(j.Spec.CompletionMode, old.Spec.CompletionMode, specPath.Child("completionMode"))
	immutable(j.Spec.PodFailurePolicy, old.Spec.PodFailurePolicy, specPath.Child("podFailurePolicy"))
	immutable(j.Spec.BackoffLimitPerIndex, old.Spec.BackoffLimitPerIndex, specPath.Child("backoffLimitPerIndex"))
	immutable(j.Spec.ManagedBy, old.Spec.ManagedBy, specPath.Child("managedBy"))

	if !equality.Semantic.DeepEqual(j.Spec.Completions, old.Spec.Completions) {
		// Elastic indexed jobs scale by moving completions and parallelism together.
		indexed := j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
		if !indexed || j.Spec.Completions == nil || j.Spec.Parallelism == nil || *j.Spec.Completions != *j.Spec.Parallelism {
			errs = append(errs, field.Invalid(specPath.Child("completions"), j.Spec.Completions, "field is immutable unless the job is Indexed and it changes together with spec.parallelism"))
		}
	}

	oldTemplate := old.Spec.Template.DeepCopy()
	if old.Spec.Suspend != nil && *old.Spec.Suspend && old.Status.StartTime == nil {
		oldTemplate.Labels = j.Spec.Template.Labels
		oldTemplate.Annotations = j.Spec.Template.Annotations
		oldTemplate.Spec.NodeSelector = j.Spec.Template.Spec.NodeSelector
		oldTemplate.Spec.Affinity = j.Spec.Template.Spec.Affinity
		oldTemplate.Spec.Tolerations = j.Spec.Template.Spec.Tolerations
		oldTemplate.Spec.SchedulingGates = j.Spec.Template.Spec.SchedulingGates
	}
	immutable(j.Spec.Template, *oldTemplate, specPath.Child("template"))
	return errs
}

// ValidateStatus checks the counters the Job controller writes.
func ValidateStatus(st *batchv1.JobStatus) field.ErrorList {
	p := field.NewPath("status")
	var errs field.ErrorList
	for _, c := range []struct {
		name string
		v    int32
	}{{"active", st.Active}, {"succeeded", st.Succeeded}, {"failed", st.Failed}} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(c.v), p.Child(c.name))...)
	}
	for _, c := range []struct {
		name string
		v    *int32
	}{{"ready", st.Ready}, {"terminating", st.Terminating}} {
		if c.v != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*c.v), p.Child(c.name))...)
		}
	}
	if st.StartTime != nil && st.CompletionTime != nil && st.CompletionTime.Before(st.StartTime) {
		errs = append(errs, field.Invalid(p.Child("completionTime"), st.CompletionTime, "completionTime cannot be set before startTime"))
	}
	if u := st.UncountedTerminatedPods; u != nil {
		seen := map[types.UID]bool{}
		for _, l := range []struct {
			name string
			uids []types.UID
		}{{"succeeded", u.Succeeded}, {"failed", u.Failed}} {
			for i, uid := range l.uids {
				up := p.Child("uncountedTerminatedPods", l.name).Index(i)
				switch {
				case uid == "":
					errs = append(errs, field.Invalid(up, uid, "must not be empty"))
				case seen[uid]:
					errs = append(errs, field.Duplicate(up, uid))
				}
				seen[uid] = true
			}
		}
	}
	return errs
}
