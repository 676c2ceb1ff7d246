package cronjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/cronschedule"
)

// EventRecorder is the part of client-go's record.EventRecorder the controller uses.
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{})
}

// Event reasons, as upstream writes them.
const (
	ReasonSuccessfulCreate   = "SuccessfulCreate"
	ReasonFailedCreate       = "FailedCreate"
	ReasonSuccessfulDelete   = "SuccessfulDelete"
	ReasonSawCompletedJob    = "SawCompletedJob"
	ReasonMissSchedule       = "MissSchedule"
	ReasonTooManyMissedTimes = "TooManyMissedTimes"
	ReasonJobAlreadyActive   = "JobAlreadyActive"
	ReasonUnknownTimeZone    = "UnknownTimeZone"
	ReasonInvalidSchedule    = "InvalidSchedule"
	ReasonMissingJob         = "MissingJob"
)

// nextScheduleDelta is added to the wake-up so that the schedule time has surely passed.
const nextScheduleDelta = 100 * time.Millisecond

const jobIndexName = "cronjob.batch/controller-uid"

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the cronjob and job informers.
	Informers informers.SharedInformerFactory
	// Recorder records events on cronjobs; nil records none.
	Recorder EventRecorder
	Logger   *slog.Logger
	// Clock is the time schedules are judged by and drives the queue's delays (default real).
	Clock clock.WithTicker
	// Location is the zone of schedules without spec.timeZone (default time.Local, as upstream
	// uses the controller manager's zone).
	Location *time.Location
}

// Controller runs CronJobs.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	cronJobs batchlisters.CronJobLister
	jobIndex cache.Indexer
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg, registers the informers and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("cronjob: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("cronjob: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "cronjob"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob", Clock: cfg.Clock})}
	cjInf := cfg.Informers.Batch().V1().CronJobs()
	c.cronJobs = cjInf.Lister()
	creg, err := cjInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("cronjob: watching cronjobs: %w", err)
	}
	jobInf := cfg.Informers.Batch().V1().Jobs().Informer()
	if _, exists := jobInf.GetIndexer().GetIndexers()[jobIndexName]; !exists {
		if err := jobInf.AddIndexers(cache.Indexers{jobIndexName: cronJobUIDIndex}); err != nil {
			return nil, fmt.Errorf("cronjob: indexing jobs: %w", err)
		}
	}
	c.jobIndex = jobInf.GetIndexer()
	jreg, err := jobInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.jobChanged,
		UpdateFunc: func(_, obj interface{}) { c.jobChanged(obj) },
		DeleteFunc: c.jobChanged,
	})
	if err != nil {
		return nil, fmt.Errorf("cronjob: watching jobs: %w", err)
	}
	c.synced = []cache.InformerSynced{creg.HasSynced, jreg.HasSynced}
	return c, nil
}

func cronJobRef(j *batchv1.Job) *metav1.OwnerReference {
	ref := metav1.GetControllerOf(j)
	if ref == nil || ref.Kind != "CronJob" || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
		return nil
	}
	return ref
}

func cronJobUIDIndex(obj interface{}) ([]string, error) {
	if j, ok := obj.(*batchv1.Job); ok {
		if ref := cronJobRef(j); ref != nil {
			return []string{string(ref.UID)}, nil
		}
	}
	return nil, nil
}

func (c *Controller) enqueue(obj interface{}) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) jobChanged(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if j, ok := obj.(*batchv1.Job); ok {
		if ref := cronJobRef(j); ref != nil {
			c.queue.Add(j.Namespace + "/" + ref.Name)
		}
	}
}

// Run syncs cronjobs with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if workers < 1 {
		workers = 1
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.log.Info("starting", "workers", workers)
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
}

func (c *Controller) worker(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		after, err := c.sync(ctx, key)
		switch {
		case err != nil:
			c.log.Info("sync failed, will retry", "cronjob", key, "err", err)
			c.queue.AddRateLimited(key)
		default:
			c.queue.Forget(key)
			if after > 0 {
				c.queue.AddAfter(key, after)
			}
		}
		c.queue.Done(key)
	}
}

// sync reconciles one cronjob and returns when it next needs a look (0: only on changes).
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	shared, err := c.cronJobs.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	cj := shared.DeepCopy()
	log := c.log.With("cronjob", key)
	jobs := c.jobsOf(cj)

	if err := c.reconcileActive(ctx, cj, jobs); err != nil {
		return 0, err
	}
	after, createErr := c.schedule(ctx, log, cj)
	if !equality.Semantic.DeepEqual(cj.Status, shared.Status) {
		if _, err := c.cfg.Client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return 0, err
		}
	}
	if createErr != nil {
		return 0, createErr
	}
	if cj.DeletionTimestamp == nil {
		if err := c.cleanupHistory(ctx, cj, jobs); err != nil {
			return 0, err
		}
	}
	return after, nil
}

// jobsOf lists the jobs the cronjob controls, from the cache.
func (c *Controller) jobsOf(cj *batchv1.CronJob) []*batchv1.Job {
	objs, _ := c.jobIndex.ByIndex(jobIndexName, string(cj.UID))
	out := make([]*batchv1.Job, 0, len(objs))
	for _, o := range objs {
		if j, ok := o.(*batchv1.Job); ok && j.Namespace == cj.Namespace {
			out = append(out, j)
		}
	}
	return out
}

// reconcileActive brings status.active and lastSuccessfulTime in line with the owned jobs.
func (c *Controller) reconcileActive(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	owned := map[types.UID]*batchv1.Job{}
	for _, j := range jobs {
		owned[j.UID] = j
		finished, ct := jobFinished(j)
		inActive := activeIndex(cj, j.UID) >= 0
		switch {
		case inActive && finished:
			removeActive(cj, j.UID)
			c.event(cj, corev1.EventTypeNormal, ReasonSawCompletedJob, "Saw completed job: %s, condition: %v", j.Name, ct)
		case !inActive && !finished && j.DeletionTimestamp == nil:
			// Created but the status write was lost, or adopted: it runs, so it is active.
			cj.Status.Active = append(cj.Status.Active, jobReference(j))
		}
		if finished && ct == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || cj.Status.LastSuccessfulTime.Before(j.Status.CompletionTime)) {
			cj.Status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
		}
	}
	for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
		if owned[ref.UID] != nil {
			continue
		}
		// Not in the cache: gone, or too new for it. Ask.
		j, err := c.cfg.Client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || (err == nil && j.UID != ref.UID):
			removeActive(cj, ref.UID)
			c.event(cj, corev1.EventTypeNormal, ReasonMissingJob, "Active job went missing: %v", ref.Name)
		case err != nil:
			return err
		}
	}
	return nil
}

// schedule starts the job of the most recent unmet schedule time, if any, and returns how long
// until the next one.
func (c *Controller) schedule(ctx context.Context, log *slog.Logger, cj *batchv1.CronJob) (time.Duration, error) {
	if cj.DeletionTimestamp != nil || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return 0, nil
	}
	loc := c.cfg.Location
	if tz := cj.Spec.TimeZone; tz != nil {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			c.event(cj, corev1.EventTypeWarning, ReasonUnknownTimeZone, "invalid timeZone: %q: %s", *tz, err)
			return 0, nil // only a spec change can fix it
		}
		loc = l
	}
	sched, err := cronschedule.Parse(cj.Spec.Schedule)
	if err != nil {
		c.event(cj, corev1.EventTypeWarning, ReasonInvalidSchedule, "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return 0, nil
	}
	now := c.cfg.Clock.Now().In(loc)
	next := func() time.Duration {
		n := sched.Next(now)
		if n.IsZero() {
			return 0
		}
		return n.Sub(now) + nextScheduleDelta
	}

	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	scheduled, missed := mostRecent(sched, earliest.In(loc), now)
	if scheduled == nil {
		return next(), nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		// Only the times still within the deadline count as missed.
		if w := now.Add(-time.Duration(*d) * time.Second); w.After(earliest) {
			_, missed = mostRecent(sched, w.In(loc), now)
		}
	}
	if missed > tooManyMissed {
		c.event(cj, corev1.EventTypeWarning, ReasonTooManyMissedTimes,
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed)
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		c.event(cj, corev1.EventTypeWarning, ReasonMissSchedule, "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return next(), nil
	}
	jobName := jobNameFor(cj, *scheduled)
	if activeByName(cj, jobName) || (cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(*scheduled)) {
		return next(), nil // handled already
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			// The time stays unmet: when the running job ends, its event brings us back in time
			// (within startingDeadlineSeconds) to start it.
			c.event(cj, corev1.EventTypeNormal, ReasonJobAlreadyActive, "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next(), nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
			if err := c.deleteJob(ctx, cj, ref.Name, ref.UID); err != nil {
				return 0, err
			}
			removeActive(cj, ref.UID)
		}
	}
	job := jobFor(cj, *scheduled, jobName)
	created, err := c.cfg.Client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return 0, nil
	case apierrors.IsAlreadyExists(err):
		// Ours from an earlier try whose status write was lost: the cache brings it to active.
		existing, gerr := c.cfg.Client.BatchV1().Jobs(cj.Namespace).Get(ctx, jobName, metav1.GetOptions{})
		if gerr != nil {
			return 0, gerr
		}
		if ref := cronJobRef(existing); ref == nil || ref.UID != cj.UID {
			c.event(cj, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating job: %v", err)
			return 0, err
		}
		created = existing
	case err != nil:
		c.event(cj, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating job: %v", err)
		return 0, err
	default:
		c.event(cj, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created job %v", created.Name)
		log.Info("created job", "job", created.Name, "scheduledTime", scheduled.Format(time.RFC3339))
	}
	if finished, _ := jobFinished(created); !finished && activeIndex(cj, created.UID) < 0 {
		cj.Status.Active = append(cj.Status.Active, jobReference(created))
	}
	cj.Status.LastScheduleTime = &metav1.Time{Time: *scheduled}
	return next(), nil
}

// jobNameFor names the job of one schedule time; the same time always yields the same name, so a
// second create of it fails instead of running twice.
func jobNameFor(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

func jobFor(cj *batchv1.CronJob, scheduled time.Time, name string) *batchv1.Job {
	t := cj.Spec.JobTemplate.DeepCopy()
	annotations := t.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: cj.Namespace, Labels: t.Labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "CronJob",
				Name: cj.Name, UID: cj.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: t.Spec,
	}
}

// cleanupHistory deletes the oldest finished jobs beyond the history limits.
func (c *Controller) cleanupHistory(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch _, ct := jobFinished(j); ct {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	for _, l := range []struct {
		jobs  []*batchv1.Job
		limit *int32
	}{{succeeded, cj.Spec.SuccessfulJobsHistoryLimit}, {failed, cj.Spec.FailedJobsHistoryLimit}} {
		if l.limit == nil || len(l.jobs) <= int(*l.limit) {
			continue
		}
		sort.Slice(l.jobs, func(a, b int) bool { return olderJob(l.jobs[a], l.jobs[b]) })
		for _, j := range l.jobs[:len(l.jobs)-int(*l.limit)] {
			if err := c.deleteJob(ctx, cj, j.Name, j.UID); err != nil {
				return err
			}
		}
	}
	return nil
}

func olderJob(a, b *batchv1.Job) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if a.Status.StartTime != nil {
		ta = a.Status.StartTime.Time
	}
	if b.Status.StartTime != nil {
		tb = b.Status.StartTime.Time
	}
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Name < b.Name
}

func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, name string, uid types.UID) error {
	bg := metav1.DeletePropagationBackground
	err := c.cfg.Client.BatchV1().Jobs(cj.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg,
		Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		c.event(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return err
	}
	c.event(cj, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted job %v", name)
	return nil
}

// jobFinished reports whether the job ended, and how.
func jobFinished(j *batchv1.Job) (bool, batchv1.JobConditionType) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.Type
		}
	}
	return false, ""
}

func jobReference(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Job", APIVersion: batchv1.SchemeGroupVersion.String(), Namespace: j.Namespace,
		Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion}
}

func activeIndex(cj *batchv1.CronJob, uid types.UID) int {
	for i, r := range cj.Status.Active {
		if r.UID == uid {
			return i
		}
	}
	return -1
}

func activeByName(cj *batchv1.CronJob, name string) bool {
	for _, r := range cj.Status.Active {
		if r.Name == name {
			return true
		}
	}
	return false
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	if i := activeIndex(cj, uid); i >= 0 {
		cj.Status.Active = append(cj.Status.Active[:i], cj.Status.Active[i+1:]...)
	}
}

func (c *Controller) event(cj *batchv1.CronJob, eventtype, reason, format string, args ...any) {
	if c.cfg.Recorder != nil {
		c.cfg.Recorder.Eventf(cj, eventtype, reason, format, args...)
	}
}
