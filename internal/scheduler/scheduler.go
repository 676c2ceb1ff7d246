package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"github.com/skiff-dev/skiff/internal/informershare"
	schedcache "github.com/skiff-dev/skiff/internal/scheduler/cache"
	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
	"github.com/skiff-dev/skiff/internal/scheduler/plugins"
	"github.com/skiff-dev/skiff/internal/scheduler/queue"
	"github.com/skiff-dev/skiff/internal/scheduler/volumebinder"
)

// DefaultSchedulerName is the schedulerName of pods this scheduler takes.
const DefaultSchedulerName = corev1.DefaultSchedulerName

// Config is what a scheduler is told.
type Config struct {
	// SchedulerName selects the pods to schedule (default "default-scheduler").
	SchedulerName string
	Logger        *slog.Logger
	// Clock drives back-off; tests inject a fake one.
	Clock clock.WithTicker
	// PercentageOfNodesToScore caps how many feasible nodes are looked for before scoring
	// (1..100); 0 is upstream's adaptive default.
	PercentageOfNodesToScore int
	// DelayedBinder handles WaitForFirstConsumer claims; nil means the built-in one
	// (package volumebinder) on the scheduler's own informers.
	DelayedBinder plugins.DelayedBinder
	// SharedPods, when set, is the pod informer the scheduler shares with other components of its
	// process, instead of a watch of its own.
	SharedPods *informershare.Shared
	// VolumeBindTimeout bounds how long the built-in binder waits for a pod's claims to be bound
	// before the pod goes back to the queue (default upstream's 600 s).
	VolumeBindTimeout time.Duration
}

// Scheduler is a running scheduler.
type Scheduler struct {
	client  kubernetes.Interface
	cfg     Config
	log     *slog.Logger
	queue   *queue.Queue
	cache   *schedcache.Cache
	snap    *fw.Snapshot
	algo    *algorithm
	factory informers.SharedInformerFactory
	// podFactory watches pods: unfinished ones on a watch of its own, or all of them through a view
	// of the shared informer (handlers see finished pods as gone either way).
	podFactory informers.SharedInformerFactory
	nsLister   corelisters.NamespaceLister

	broadcaster events.EventBroadcaster
	recorder    events.EventRecorder

	nominator *nominator
	// volumes binds WaitForFirstConsumer claims around the pod's binding.
	volumes plugins.DelayedBinder

	// bindings tracks binding goroutines so Run returns after them.
	bindings sync.WaitGroup
}

// New builds a scheduler on client; Run starts it.
func New(client kubernetes.Interface, cfg Config) (*Scheduler, error) {
	if client == nil {
		return nil, errors.New("scheduler: no client")
	}
	if cfg.SchedulerName == "" {
		cfg.SchedulerName = DefaultSchedulerName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PercentageOfNodesToScore < 0 || cfg.PercentageOfNodesToScore > 100 {
		return nil, fmt.Errorf("scheduler: percentageOfNodesToScore %d is not within 0..100", cfg.PercentageOfNodesToScore)
	}
	s := &Scheduler{
		client: client, cfg: cfg, log: cfg.Logger.With("component", "scheduler"),
		queue: queue.New(queue.Options{Clock: cfg.Clock}),
		cache: schedcache.New(),
		snap:  fw.NewSnapshot(),
	}
	s.factory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(informershare.DropManagedFields))
	s.nsLister = s.factory.Core().V1().Namespaces().Lister()
	s.snap.NamespaceLabels = func(ns string) labels.Set {
		n, err := s.nsLister.Get(ns)
		if err != nil {
			return nil
		}
		return n.Labels
	}
	s.volumes = cfg.DelayedBinder
	if s.volumes == nil {
		b, err := volumebinder.New(volumebinder.Config{Client: client, Informers: s.factory, Logger: cfg.Logger,
			BindTimeout: cfg.VolumeBindTimeout})
		if err != nil {
			return nil, err
		}
		s.volumes = b
	}
	vb := plugins.VolumeBinding{
		PVCs:           s.factory.Core().V1().PersistentVolumeClaims().Lister(),
		PVs:            s.factory.Core().V1().PersistentVolumes().Lister(),
		StorageClasses: s.factory.Storage().V1().StorageClasses().Lister(),
		Delayed:        s.volumes,
	}
	s.algo = newAlgorithm(plugins.Default(vb), cfg.PercentageOfNodesToScore)
	s.nominator = newNominator()
	s.algo.nominated = s.nominator.forNode
	s.algo.anyNominated = s.nominator.any
	if err := s.addHandlers(); err != nil {
		return nil, err
	}
	s.broadcaster = events.NewBroadcaster(newEventSink(client))
	host, _ := os.Hostname()
	s.recorder = s.broadcaster.NewRecorder(scheme.Scheme, cfg.SchedulerName+"/"+host)
	return s, nil
}

// Run schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	s.broadcaster.StartRecordingToSink(ctx.Done())
	defer s.broadcaster.Shutdown()
	for _, f := range []informers.SharedInformerFactory{s.factory, s.podFactory} {
		f.Start(ctx.Done())
		defer f.Shutdown()
	}
	for _, f := range []informers.SharedInformerFactory{s.factory, s.podFactory} {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("scheduler: informer for %v did not sync", typ)
			}
		}
	}
	s.log.Info("scheduler started", "schedulerName", s.cfg.SchedulerName, "nodes", s.cache.NodeCount())
	go s.queue.Run(ctx)
	for ctx.Err() == nil {
		if err := s.scheduleOne(ctx); err != nil {
			if errors.Is(err, queue.ErrClosed) || ctx.Err() != nil {
				break
			}
			s.log.Error("scheduling cycle failed", "err", err)
		}
	}
	s.bindings.Wait()
	s.log.Info("scheduler stopped")
	return nil
}

// responsible says whether this scheduler places pod.
func (s *Scheduler) responsible(pod *corev1.Pod) bool {
	return pod.Spec.SchedulerName == s.cfg.SchedulerName
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// scheduleOne takes one pod through a scheduling cycle; binding continues on its own goroutine.
func (s *Scheduler) scheduleOne(ctx context.Context) error {
	qp, cycle, err := s.queue.Pop(ctx)
	if err != nil {
		return err
	}
	pod := qp.Pod
	if pod.DeletionTimestamp != nil || pod.Spec.NodeName != "" {
		s.queue.Done(qp)
		return nil
	}
	start := time.Now()
	s.cache.UpdateSnapshot(s.snap)
	pi := fw.NewPodInfo(pod)
	state := fw.NewCycleState()
	node, err := s.algo.schedule(ctx, state, pi, s.snap)
	if err != nil {
		var fe *FitError
		if !errors.As(err, &fe) {
			s.fail(ctx, qp, cycle, pi, err, "SchedulerError", nil, "")
			return nil
		}
		nominated := ""
		if fe.NumAllNodes > 0 {
			nominated = s.preempt(ctx, pi, fe)
		}
		s.fail(ctx, qp, cycle, pi, fe, corev1.PodReasonUnschedulable, sets.New(fe.Plugins()...), nominated)
		return nil
	}
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = node
	if err := s.cache.AssumePod(assumed); err != nil {
		s.fail(ctx, qp, cycle, pi, err, "SchedulerError", nil, "")
		return nil
	}
	// Held before the next cycle starts, so that the next pod cannot pick the same volume.
	if ni := s.snap.Get(node); ni != nil {
		if err := s.volumes.Reserve(assumed, ni.Node); err != nil {
			s.cache.ForgetPod(assumed)
			s.fail(ctx, qp, cycle, pi, fmt.Errorf("running Reserve plugin %q: %w", "VolumeBinding", err), "SchedulerError", nil, "")
			return nil
		}
	}
	s.log.Debug("pod scheduled", "pod", podKey(pod), "node", node, "took", time.Since(start))
	s.bindings.Add(1)
	go func() {
		defer s.bindings.Done()
		s.bind(ctx, qp, assumed)
	}()
	return nil
}

// bind binds the pod's delayed claims (PreBind) and posts the binding. On failure the assumed pod
// is forgotten (its room is free again, which may help parked pods), what PreBind set is undone
// and the pod retried after back-off.
func (s *Scheduler) bind(ctx context.Context, qp *queue.QueuedPod, assumed *corev1.Pod) {
	if err := s.volumes.PreBind(ctx, assumed); err != nil {
		s.cache.ForgetPod(assumed)
		s.unreserve(ctx, assumed)
		s.queue.MoveAll(interestedIn(evAssignedPodDelete))
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("binding volumes failed", "pod", podKey(assumed), "node", assumed.Spec.NodeName, "err", err)
		s.fail(ctx, qp, 0, fw.NewPodInfo(qp.Pod), fmt.Errorf("running PreBind plugin %q: %w", "VolumeBinding", err), "SchedulerError", nil, "")
		return
	}
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: assumed.Namespace, Name: assumed.Name, UID: assumed.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: assumed.Spec.NodeName},
	}
	err := bindPod(ctx, s.client, b)
	if err == nil {
		s.queue.Done(qp)
		s.recorder.Eventf(assumed, nil, corev1.EventTypeNormal, "Scheduled", "Binding",
			"Successfully assigned %s/%s to %s", assumed.Namespace, assumed.Name, assumed.Spec.NodeName)
		return
	}
	s.cache.ForgetPod(assumed)
	s.unreserve(ctx, assumed)
	s.queue.MoveAll(interestedIn(evAssignedPodDelete))
	if apierrors.IsNotFound(err) || (apierrors.IsConflict(err) && ctx.Err() == nil && s.goneOrBound(ctx, assumed)) {
		// Deleted, or bound by someone else meanwhile: nothing left to do.
		s.queue.Done(qp)
		return
	}
	if ctx.Err() != nil {
		return
	}
	s.log.Warn("binding failed", "pod", podKey(assumed), "node", assumed.Spec.NodeName, "err", err)
	msg := fmt.Sprintf("Binding rejected: %v", err)
	s.recorder.Eventf(assumed, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", msg)
	s.queue.AddBackoff(qp)
}

// unreserve undoes the volume decisions, also while the scheduler stops: a selected node left on
// a claim would tie it to a node nobody chose any more.
func (s *Scheduler) unreserve(ctx context.Context, pod *corev1.Pod) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.volumes.Unreserve(uctx, pod)
}

// goneOrBound re-reads a pod whose binding conflicted.
func (s *Scheduler) goneOrBound(ctx context.Context, pod *corev1.Pod) bool {
	cur, err := s.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	return err == nil && (cur.UID != pod.UID || cur.Spec.NodeName != "" || cur.DeletionTimestamp != nil)
}

// fail records a failed attempt: a FailedScheduling event, the PodScheduled=False condition (and
// the nominated node after preemption), and the pod parked in the queue.
func (s *Scheduler) fail(ctx context.Context, qp *queue.QueuedPod, cycle int64, pi *fw.PodInfo, err error, reason string, rejectors sets.Set[string], nominated string) {
	pod := pi.Pod
	msg := err.Error()
	s.log.Info("pod unschedulable", "pod", podKey(pod), "reason", reason, "message", msg, "nominatedNode", nominated)
	s.recorder.Eventf(pod, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", msg)
	if reason == corev1.PodReasonUnschedulable {
		s.queue.AddUnschedulable(qp, cycle, rejectors)
	} else {
		s.queue.AddBackoff(qp)
	}
	if perr := s.patchScheduledCondition(ctx, pod, reason, msg, nominated); perr != nil && ctx.Err() == nil {
		s.log.Warn("recording PodScheduled=False failed", "pod", podKey(pod), "err", perr)
	}
}

// patchScheduledCondition writes PodScheduled=False (and nominatedNodeName) with a strategic
// merge patch of pods/status, skipping the write when nothing would change.
func (s *Scheduler) patchScheduledCondition(ctx context.Context, pod *corev1.Pod, reason, msg, nominated string) error {
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: reason, Message: msg,
		LastTransitionTime: metav1.Now()}
	var old *corev1.PodCondition
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			old = &pod.Status.Conditions[i]
		}
	}
	if old != nil && old.Status == cond.Status {
		cond.LastTransitionTime = old.LastTransitionTime
	}
	nominatedChanged := nominated != "" && nominated != pod.Status.NominatedNodeName
	if old != nil && equality.Semantic.DeepEqual(*old, cond) && !nominatedChanged {
		return nil
	}
	status := map[string]any{"conditions": []corev1.PodCondition{cond}}
	if nominatedChanged {
		status["nominatedNodeName"] = nominated
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// preempt looks for victims and evicts them; it returns the node the pod is nominated to, and
// records in fe why preemption did not help otherwise.
func (s *Scheduler) preempt(ctx context.Context, pi *fw.PodInfo, fe *FitError) string {
	c, msg := s.algo.findCandidate(ctx, pi, s.snap, fe)
	if c == nil {
		fe.PostFilterMsg = msg
		return ""
	}
	for _, v := range c.victims {
		if err := s.evict(ctx, v.Pod, pi.Pod, c.node); err != nil {
			s.log.Warn("preemption: evicting victim failed", "pod", podKey(v.Pod), "preemptor", podKey(pi.Pod), "err", err)
			fe.PostFilterMsg = fmt.Sprintf("preemption: deleting victim %s failed: %v", podKey(v.Pod), err)
			return ""
		}
	}
	s.log.Info("preempted", "pod", podKey(pi.Pod), "node", c.node, "victims", len(c.victims))
	// Hold the room at once; the status write that records it comes back later via the informer.
	s.nominator.set(pi.Pod, c.node)
	return c.node
}

// evict marks a victim with the DisruptionTarget condition, tells about it in an event and deletes
// it gracefully, as upstream.
func (s *Scheduler) evict(ctx context.Context, victim, preemptor *corev1.Pod, node string) error {
	cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: corev1.PodReasonPreemptionByScheduler,
		Message: s.cfg.SchedulerName + ": preempting to accommodate a higher priority pod", LastTransitionTime: metav1.Now()}
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{cond}}})
	pods := s.client.CoreV1().Pods(victim.Namespace)
	if _, err := pods.Patch(ctx, victim.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	uid := victim.UID
	if err := pods.Delete(ctx, victim.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	s.recorder.Eventf(victim, preemptor, corev1.EventTypeNormal, "Preempted", "Preempting",
		"Preempted by pod %s on node %s", preemptor.UID, node)
	return nil
}
