package job

import (
	"context"
	"slices"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// maxCreatesPerSync bounds one sync's pod creations, as upstream's burst does.
const maxCreatesPerSync = 500

// Condition messages, as upstream writes them.
const (
	msgBackoffLimit     = "Job has reached the specified backoff limit"
	msgDeadline         = "Job was active longer than specified deadline"
	msgMaxFailedIndexes = "Job has exceeded the specified maximal number of failed indexes"
	msgFailedIndexes    = "Job has failed indexes"
	msgCompletions      = "Reached expected number of succeeded pods"
)

// sync brings one job one step closer to its spec. It returns how long to wait before the job
// needs a look again even if nothing changes (a deadline or a back-off ending), 0 for never.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	shared, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.forget(key)
		c.backoff.forget(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if m := shared.Spec.ManagedBy; m != nil && *m != batchv1.JobControllerName {
		return 0, nil // another controller runs it
	}
	pods := c.podsOf(shared)
	if finishedCondition(&shared.Status) != nil || shared.DeletionTimestamp != nil {
		// Nothing is left to count: release every pod still held.
		_, err := c.removeFinalizers(ctx, key, slices.DeleteFunc(pods, func(p *corev1.Pod) bool { return !hasTrackingFinalizer(p) }))
		return 0, err
	}
	s := newSyncState(c, key, shared, pods)
	return s.run(ctx)
}

// podsOf lists the pods the job controls, from the cache.
func (c *Controller) podsOf(j *batchv1.Job) []*corev1.Pod {
	objs, _ := c.podIndex.ByIndex(podIndexName, string(j.UID))
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.Namespace == j.Namespace {
			pods = append(pods, p)
		}
	}
	return pods
}

// syncState is one sync of one job.
type syncState struct {
	c    *Controller
	key  string
	job  *batchv1.Job // the copy being brought up to date; job.Status is the status to write
	last *batchv1.Job // the job as last read or written: no write when the status equals its
	pods []*corev1.Pod
	now  time.Time

	indexed        bool
	completions    int // meaningful when hasCompletions
	hasCompletions bool
	perIndex       bool
	suspended      bool
	onlyFailed     bool // replacements wait for pods to reach Failed

	succeededIdx, failedIdx indexSet
	target                  *batchv1.JobCondition // FailureTarget or SuccessCriteriaMet, when decided
	// events about the status are recorded only once the status is written: a failed write is
	// retried and would record them twice.
	events []func()
}

func (s *syncState) eventAfterWrite(eventtype, reason, format string, args ...any) {
	j := s.job
	s.events = append(s.events, func() { s.c.event(j, eventtype, reason, format, args...) })
}

func newSyncState(c *Controller, key string, shared *batchv1.Job, pods []*corev1.Pod) *syncState {
	j := shared.DeepCopy()
	s := &syncState{c: c, key: key, job: j, last: shared, pods: pods, now: c.clock.Now(),
		indexed:    j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion,
		perIndex:   j.Spec.BackoffLimitPerIndex != nil,
		suspended:  j.Spec.Suspend != nil && *j.Spec.Suspend,
		onlyFailed: j.Spec.PodFailurePolicy != nil || (j.Spec.PodReplacementPolicy != nil && *j.Spec.PodReplacementPolicy == batchv1.Failed),
	}
	if j.Spec.Completions != nil {
		s.hasCompletions, s.completions = true, int(*j.Spec.Completions)
	}
	s.perIndex = s.perIndex && s.indexed
	st := &j.Status
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	var err error
	if s.succeededIdx, err = parseIndexes(st.CompletedIndexes, s.completions); err != nil {
		c.log.Warn("unreadable completedIndexes, keeping what parses", "job", key, "err", err)
	}
	s.failedIdx = indexSet{}
	if s.perIndex {
		if st.FailedIndexes == nil {
			st.FailedIndexes = new(string)
		}
		if s.failedIdx, err = parseIndexes(*st.FailedIndexes, s.completions); err != nil {
			c.log.Warn("unreadable failedIndexes, keeping what parses", "job", key, "err", err)
		}
	}
	s.target = finishingCondition(st)
	return s
}

func (s *syncState) run(ctx context.Context) (time.Duration, error) {
	c, j, st := s.c, s.job, &s.job.Status
	log := c.log.With("job", s.key)

	// 1. Record new outcomes in uncountedTerminatedPods before any finalizer goes.
	unc := st.UncountedTerminatedPods
	before := len(unc.Succeeded) + len(unc.Failed)
	release, outcomes, newTarget := s.collectFinished()
	if s.target == nil && newTarget != nil {
		s.setTarget(newTarget.Type, newTarget.Reason, newTarget.Message)
	}
	if len(unc.Succeeded)+len(unc.Failed) > before || newTarget != nil {
		if err := s.write(ctx); err != nil {
			return 0, err
		}
	}
	c.backoff.record(s.key, outcomes)

	// 2. Release those pods, then count what is released.
	released, relErr := c.removeFinalizers(ctx, s.key, release)
	s.flushUncounted(released)

	// 3. Judge the job and manage its pods.
	st.Active, st.Ready, st.Terminating = 0, new(int32), new(int32)
	active, terminating := s.classify()
	succeeded := int(st.Succeeded) + len(st.UncountedTerminatedPods.Succeeded)
	failed := int(st.Failed) + len(st.UncountedTerminatedPods.Failed)
	s.updateSuspension()
	if s.target == nil && !s.suspended {
		s.judge(active, succeeded, failed)
	}

	var after time.Duration
	created, deleted := 0, 0
	var manageErr error
	switch {
	case !c.exp.satisfied(s.key, s.now):
		// Earlier creates or deletes are not seen yet; their events bring the job back.
	case s.target != nil || s.suspended:
		deleted, manageErr = len(active), c.deletePods(ctx, j, s.key, active)
	default:
		created, deleted, after, manageErr = s.manage(ctx, active, terminating, succeeded)
	}
	for _, p := range active {
		if podReady(p) {
			*st.Ready++
		}
	}
	st.Active = int32(len(active) - deleted + created)
	*st.Terminating = int32(len(terminating) + deleted)

	// 4. Once nothing runs any more, the decided outcome becomes final.
	if s.target != nil && st.Active == 0 && *st.Terminating == 0 && len(st.UncountedTerminatedPods.Succeeded)+len(st.UncountedTerminatedPods.Failed) == 0 {
		s.finish(log)
	}
	if d := s.deadlineIn(); d > 0 && (after == 0 || d < after) {
		after = d
	}
	if err := s.write(ctx); err != nil {
		return 0, err
	}
	for _, e := range s.events {
		e()
	}
	if relErr != nil {
		return 0, relErr
	}
	return after, manageErr
}

// collectFinished looks at the pods still holding the tracking finalizer: the finished ones not yet
// recorded go to uncountedTerminatedPods (and their indexes to completedIndexes/failedIndexes).
// It returns the pods whose finalizer may go, the outcomes for the back-off record and, when a
// failure policy rule ends the job, the FailureTarget condition.
func (s *syncState) collectFinished() ([]*corev1.Pod, []finished, *batchv1.JobCondition) {
	st := &s.job.Status
	unc := st.UncountedTerminatedPods
	counted := map[types.UID]bool{}
	for _, u := range unc.Succeeded {
		counted[u] = true
	}
	for _, u := range unc.Failed {
		counted[u] = true
	}
	failing := s.target != nil && s.target.Type == batchv1.JobFailureTarget
	succeeding := s.target != nil && s.target.Type == batchv1.JobSuccessCriteriaMet
	var (
		release  []*corev1.Pod
		outcomes []finished
		target   *batchv1.JobCondition
	)
	pods := slices.Clone(s.pods)
	sort.SliceStable(pods, func(a, b int) bool { return finishTime(pods[a], s.now).Before(finishTime(pods[b], s.now)) })
	for _, p := range pods {
		if !hasTrackingFinalizer(p) || s.c.exp.finalizerRemovalPending(s.key, p.UID) {
			continue
		}
		if counted[p.UID] {
			release = append(release, p)
			continue
		}
		ix := podIndex(p)
		validIx := !s.indexed || (ix != noIndex && ix < s.completions)
		deleted := p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			release = append(release, p)
			if !validIx || (s.indexed && s.succeededIdx[ix]) {
				continue // a duplicate or out-of-range index: not a completion
			}
			if s.indexed {
				s.succeededIdx[ix] = true
			}
			unc.Succeeded = append(unc.Succeeded, p.UID)
			outcomes = append(outcomes, finished{at: finishTime(p, s.now)})
		case p.Status.Phase == corev1.PodFailed || (deleted && !s.onlyFailed && !s.suspended && !succeeding) || (failing && !isTerminal(p)):
			release = append(release, p)
			if !validIx {
				continue
			}
			var v *failureVerdict
			if p.Status.Phase == corev1.PodFailed {
				v = matchFailurePolicy(s.job.Spec.PodFailurePolicy, p)
			}
			if v != nil && v.action == batchv1.PodFailurePolicyActionIgnore {
				continue
			}
			unc.Failed = append(unc.Failed, p.UID)
			outcomes = append(outcomes, finished{at: finishTime(p, s.now), failed: true})
			if v != nil && v.action == batchv1.PodFailurePolicyActionFailJob && target == nil {
				target = &batchv1.JobCondition{Type: batchv1.JobFailureTarget, Reason: batchv1.JobReasonPodFailurePolicy, Message: v.message}
			}
			if s.perIndex && !s.succeededIdx[ix] &&
				((v != nil && v.action == batchv1.PodFailurePolicyActionFailIndex) || indexFailureCount(p)+1 > int(*s.job.Spec.BackoffLimitPerIndex)) {
				s.failedIdx[ix] = true
			}
		case s.target != nil || (s.suspended && p.DeletionTimestamp != nil):
			// Deleted because the job finished or was suspended: released without counting.
			release = append(release, p)
		}
	}
	if s.indexed {
		st.CompletedIndexes = s.succeededIdx.String()
	}
	if s.perIndex {
		*st.FailedIndexes = s.failedIdx.String()
	}
	return release, outcomes, target
}

// flushUncounted moves the recorded outcomes whose pods no longer hold the finalizer into the
// counters.
func (s *syncState) flushUncounted(released map[types.UID]bool) {
	st := &s.job.Status
	byUID := make(map[types.UID]*corev1.Pod, len(s.pods))
	for _, p := range s.pods {
		byUID[p.UID] = p
	}
	gone := func(u types.UID) bool {
		p, ok := byUID[u]
		return released[u] || !ok || !hasTrackingFinalizer(p)
	}
	keep := func(uids []types.UID, counter *int32) []types.UID {
		out := uids[:0]
		for _, u := range uids {
			if gone(u) {
				*counter++
			} else {
				out = append(out, u)
			}
		}
		return out
	}
	unc := st.UncountedTerminatedPods
	unc.Succeeded = keep(unc.Succeeded, &st.Succeeded)
	unc.Failed = keep(unc.Failed, &st.Failed)
}

// classify splits the job's pods into active ones (running or pending, not deleted) and
// terminating ones (deleted but not finished).
func (s *syncState) classify() (active, terminating []*corev1.Pod) {
	for _, p := range s.pods {
		switch {
		case isTerminal(p):
		case p.DeletionTimestamp != nil:
			terminating = append(terminating, p)
		default:
			active = append(active, p)
		}
	}
	return active, terminating
}

// updateSuspension keeps the Suspended condition and startTime in step with spec.suspend.
func (s *syncState) updateSuspension() {
	st := &s.job.Status
	if s.suspended {
		if s.target == nil && setCondition(st, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", s.now) {
			s.eventAfterWrite(corev1.EventTypeNormal, ReasonSuspended, "Job suspended")
		}
		return
	}
	if c := condition(st, batchv1.JobSuspended); c != nil && c.Status == corev1.ConditionTrue {
		setCondition(st, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", s.now)
		// The deadline counts from the resume, as upstream.
		st.StartTime = &metav1.Time{Time: s.now}
		s.eventAfterWrite(corev1.EventTypeNormal, ReasonResumed, "Job resumed")
	}
	if st.StartTime == nil {
		st.StartTime = &metav1.Time{Time: s.now}
	}
}

// judge decides whether the job has failed or succeeded.
func (s *syncState) judge(active []*corev1.Pod, succeeded, failed int) {
	spec := &s.job.Spec
	st := &s.job.Status
	backoffLimit := 6
	if spec.BackoffLimit != nil {
		backoffLimit = int(*spec.BackoffLimit)
	}
	switch {
	case (!s.perIndex && failed > backoffLimit) || (spec.Template.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && pastBackoffOnFailure(active, failed, backoffLimit)):
		s.setTarget(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimit)
	case s.perIndex && spec.MaxFailedIndexes != nil && len(s.failedIdx) > int(*spec.MaxFailedIndexes):
		s.setTarget(batchv1.JobFailureTarget, batchv1.JobReasonMaxFailedIndexesExceeded, msgMaxFailedIndexes)
	case spec.ActiveDeadlineSeconds != nil && st.StartTime != nil &&
		!s.now.Before(st.StartTime.Add(time.Duration(*spec.ActiveDeadlineSeconds)*time.Second)):
		s.setTarget(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, msgDeadline)
	case s.complete(active, succeeded):
		s.setTarget(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, msgCompletions)
	case s.perIndex && len(s.failedIdx) > 0 && len(s.succeededIdx)+len(s.failedIdx) >= s.completions:
		s.setTarget(batchv1.JobFailureTarget, batchv1.JobReasonFailedIndexes, msgFailedIndexes)
	}
}

// pastBackoffOnFailure counts container restarts of running pods as failures: with restartPolicy
// OnFailure a failing container restarts in place and no pod ever fails.
func pastBackoffOnFailure(active []*corev1.Pod, failed, limit int) bool {
	restarts := 0
	for _, p := range active {
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, cs := range list {
				restarts += int(cs.RestartCount)
			}
		}
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts > 0 && restarts+failed >= limit
}

func (s *syncState) complete(active []*corev1.Pod, succeeded int) bool {
	switch {
	case s.indexed:
		return len(s.succeededIdx) >= s.completions
	case s.hasCompletions:
		return succeeded >= s.completions
	default:
		// A work queue: done once one pod succeeded and no other still runs.
		return succeeded > 0 && len(active) == 0
	}
}

func (s *syncState) setTarget(t batchv1.JobConditionType, reason, msg string) {
	setCondition(&s.job.Status, t, corev1.ConditionTrue, reason, msg, s.now)
	s.target = condition(&s.job.Status, t)
}

// finish turns the decided outcome into the terminal condition.
func (s *syncState) finish(log interface{ Info(string, ...any) }) {
	st := &s.job.Status
	if s.target.Type == batchv1.JobSuccessCriteriaMet {
		setCondition(st, batchv1.JobComplete, corev1.ConditionTrue, s.target.Reason, s.target.Message, s.now)
		st.CompletionTime = &metav1.Time{Time: s.now}
		s.eventAfterWrite(corev1.EventTypeNormal, ReasonCompleted, "Job completed")
		log.Info("job completed", "succeeded", st.Succeeded)
		return
	}
	setCondition(st, batchv1.JobFailed, corev1.ConditionTrue, s.target.Reason, s.target.Message, s.now)
	s.eventAfterWrite(corev1.EventTypeWarning, s.target.Reason, s.target.Message)
	log.Info("job failed", "reason", s.target.Reason, "failed", st.Failed)
}

// deadlineIn is how long until activeDeadlineSeconds runs out, 0 when it does not apply.
func (s *syncState) deadlineIn() time.Duration {
	st := &s.job.Status
	if s.job.Spec.ActiveDeadlineSeconds == nil || st.StartTime == nil || s.suspended || finishedCondition(st) != nil || s.target != nil {
		return 0
	}
	return max(st.StartTime.Add(time.Duration(*s.job.Spec.ActiveDeadlineSeconds)*time.Second).Sub(s.now), time.Millisecond)
}

// write stores the status when it differs from the last one read or written.
func (s *syncState) write(ctx context.Context) error {
	if equality.Semantic.DeepEqual(s.job.Status, s.last.Status) {
		return nil
	}
	upd, err := s.c.cfg.Client.BatchV1().Jobs(s.job.Namespace).UpdateStatus(ctx, s.job, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	// The status just written is the base of the next write in this sync.
	s.last = upd
	s.job.ResourceVersion = upd.ResourceVersion
	return nil
}

// manage creates or deletes pods towards the wanted number of active ones.
func (s *syncState) manage(ctx context.Context, active, terminating []*corev1.Pod, succeeded int) (created, deleted int, after time.Duration, err error) {
	parallelism := 1
	if s.job.Spec.Parallelism != nil {
		parallelism = int(*s.job.Spec.Parallelism)
	}
	busy := len(active)
	if s.onlyFailed {
		busy += len(terminating)
	}
	var excess []*corev1.Pod
	var specs []podSpec
	if s.indexed {
		excess, specs = s.planIndexed(active, terminating, parallelism)
	} else {
		want := parallelism
		switch {
		case s.hasCompletions:
			want = max(min(parallelism, s.completions-succeeded), 0)
		case succeeded > 0:
			want = len(active) // a work queue stops starting pods after its first success
		}
		if len(active) > want {
			excess = deletionOrder(active)[:len(active)-want]
		} else if n := want - busy; n > 0 {
			for range n {
				specs = append(specs, podSpec{index: noIndex})
			}
		}
	}
	if len(excess) > 0 {
		if err := s.c.deletePods(ctx, s.job, s.key, excess); err != nil {
			return 0, 0, 0, err
		}
		deleted = len(excess)
	}
	if len(specs) == 0 {
		return 0, deleted, 0, nil
	}
	if wait := s.c.backoff.remaining(s.key, s.now); wait > 0 {
		return 0, deleted, wait, nil
	}
	if len(specs) > maxCreatesPerSync {
		specs = specs[:maxCreatesPerSync]
		after = time.Millisecond // the rest in the next round
	}
	created, err = s.c.createPods(ctx, s.job, s.key, specs)
	return created, deleted, after, err
}

// planIndexed picks the active pods to delete (duplicates, finished or out-of-range indexes,
// above parallelism) and the indexes to start, lowest first.
func (s *syncState) planIndexed(active, terminating []*corev1.Pod, parallelism int) ([]*corev1.Pod, []podSpec) {
	byIndex := map[int][]*corev1.Pod{}
	var excess []*corev1.Pod
	for _, p := range active {
		ix := podIndex(p)
		if ix == noIndex || ix >= s.completions || s.succeededIdx[ix] || s.failedIdx[ix] {
			excess = append(excess, p)
			continue
		}
		byIndex[ix] = append(byIndex[ix], p)
	}
	for ix, list := range byIndex {
		if len(list) > 1 {
			ordered := deletionOrder(list) // keep the one least worth deleting
			excess = append(excess, ordered[:len(ordered)-1]...)
			byIndex[ix] = ordered[len(ordered)-1:]
		}
	}
	want := max(min(parallelism, s.completions-len(s.succeededIdx)-len(s.failedIdx)), 0)
	if len(byIndex) > want {
		// Parallelism went down: stop the highest indexes.
		idx := make([]int, 0, len(byIndex))
		for ix := range byIndex {
			idx = append(idx, ix)
		}
		slices.Sort(idx)
		for _, ix := range idx[want:] {
			excess = append(excess, byIndex[ix]...)
			delete(byIndex, ix)
		}
		return excess, nil
	}
	busy := map[int]bool{}
	for ix := range byIndex {
		busy[ix] = true
	}
	if s.onlyFailed {
		for _, p := range terminating {
			busy[podIndex(p)] = true
		}
	}
	failures := map[int]int{}
	if s.perIndex {
		for _, p := range s.pods {
			if p.Status.Phase != corev1.PodFailed {
				continue
			}
			if v := matchFailurePolicy(s.job.Spec.PodFailurePolicy, p); v != nil && v.action == batchv1.PodFailurePolicyActionIgnore {
				continue
			}
			if ix := podIndex(p); ix != noIndex {
				failures[ix] = max(failures[ix], indexFailureCount(p)+1)
			}
		}
	}
	var specs []podSpec
	for ix := 0; ix < s.completions && len(specs) < want-len(byIndex); ix++ {
		if !s.succeededIdx[ix] && !s.failedIdx[ix] && !busy[ix] {
			specs = append(specs, podSpec{index: ix, failures: failures[ix]})
		}
	}
	return excess, specs
}

// deletionOrder sorts pods most worth deleting first: not yet on a node, pending, not ready, newest.
func deletionOrder(pods []*corev1.Pod) []*corev1.Pod {
	out := slices.Clone(pods)
	rank := func(p *corev1.Pod) int {
		switch {
		case p.Spec.NodeName == "":
			return 0
		case p.Status.Phase == corev1.PodPending:
			return 1
		case !podReady(p):
			return 2
		}
		return 3
	}
	sort.SliceStable(out, func(a, b int) bool {
		if ra, rb := rank(out[a]), rank(out[b]); ra != rb {
			return ra < rb
		}
		return out[b].CreationTimestamp.Before(&out[a].CreationTimestamp)
	})
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// finishTime is when the pod finished: its last container's end, else its deletion, else now.
func finishTime(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.State.Terminated != nil && cs.State.Terminated.FinishedAt.After(t) {
				t = cs.State.Terminated.FinishedAt.Time
			}
		}
	}
	if t.IsZero() && p.DeletionTimestamp != nil {
		t = p.DeletionTimestamp.Time
	}
	if t.IsZero() {
		t = now
	}
	return t
}

func condition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition sets a condition and reports whether anything changed; the transition time moves
// only when the status does.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) bool {
	if c := condition(st, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == msg {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.Time{Time: now}
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, msg, metav1.Time{Time: now}
		return true
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: status, Reason: reason, Message: msg,
		LastProbeTime: metav1.Time{Time: now}, LastTransitionTime: metav1.Time{Time: now}})
	return true
}

// finishedCondition is the job's true Complete or Failed condition, if any.
func finishedCondition(st *batchv1.JobStatus) *batchv1.JobCondition {
	for i, c := range st.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return &st.Conditions[i]
		}
	}
	return nil
}

// finishingCondition is the job's true FailureTarget or SuccessCriteriaMet condition, if any.
func finishingCondition(st *batchv1.JobStatus) *batchv1.JobCondition {
	for i, c := range st.Conditions {
		if (c.Type == batchv1.JobFailureTarget || c.Type == batchv1.JobSuccessCriteriaMet) && c.Status == corev1.ConditionTrue {
			return &st.Conditions[i]
		}
	}
	return nil
}
