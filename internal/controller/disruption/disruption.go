package disruption

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// DeletionTimeout is how long an evicted pod may stay before the budget counts it again
// (upstream's).
const DeletionTimeout = 2 * time.Minute

// Event and condition reasons, upstream's.
const (
	ReasonNoPods        = "NoPods"
	ReasonUnmanagedPods = "UnmanagedPods"
	ReasonCalculateFail = "CalculateExpectedPodCountFailed"
)

// EventRecorder is the part of client-go's record.EventRecorder the controller uses.
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{})
}

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides pods, budgets and the built-in controllers (ReplicaSets, Deployments,
	// StatefulSets; skiff serves no ReplicationControllers, whose pods go through Scales).
	Informers informers.SharedInformerFactory
	// Scales and Mapper read the scale subresource of any other controller kind; nil leaves
	// pods of such controllers uncountable (the budget then allows no disruption).
	Scales   scale.ScalesGetter
	Mapper   meta.RESTMapper
	Recorder EventRecorder
	Logger   *slog.Logger
	Clock    clock.Clock
}

// Controller is the disruption controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	pods   corelisters.PodLister
	pdbs   policylisters.PodDisruptionBudgetLister
	rss    appslisters.ReplicaSetLister
	deps   appslisters.DeploymentLister
	sts    appslisters.StatefulSetLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg, registers its informers and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("disruption: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("disruption: Config.Informers is required")
	case (cfg.Scales == nil) != (cfg.Mapper == nil):
		return nil, errors.New("disruption: Config.Scales and Config.Mapper go together")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "disruption"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "disruption"})}
	f := cfg.Informers
	c.pods, c.pdbs = f.Core().V1().Pods().Lister(), f.Policy().V1().PodDisruptionBudgets().Lister()
	c.rss, c.deps, c.sts = f.Apps().V1().ReplicaSets().Lister(), f.Apps().V1().Deployments().Lister(), f.Apps().V1().StatefulSets().Lister()
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) error {
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return err
		}
		c.synced = append(c.synced, reg.HasSynced)
		return nil
	}
	pdbHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueuePDB,
		UpdateFunc: func(_, obj any) { c.enqueuePDB(obj) },
		DeleteFunc: c.enqueuePDB,
	}
	podHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, obj any) { c.podChanged(obj) },
		DeleteFunc: c.podChanged,
	}
	// A controller's scale feeds the expected count of the budgets of its namespace.
	scaleHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    c.namespaceChanged,
		UpdateFunc: func(_, obj any) { c.namespaceChanged(obj) },
		DeleteFunc: c.namespaceChanged,
	}
	for _, r := range []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{f.Policy().V1().PodDisruptionBudgets().Informer(), pdbHandler},
		{f.Core().V1().Pods().Informer(), podHandler},
		{f.Apps().V1().ReplicaSets().Informer(), scaleHandler},
		{f.Apps().V1().Deployments().Informer(), scaleHandler},
		{f.Apps().V1().StatefulSets().Informer(), scaleHandler},
	} {
		if err := add(r.inf, r.h); err != nil {
			return nil, fmt.Errorf("disruption: %w", err)
		}
	}
	return c, nil
}

func metaOf(obj any) metav1.Object {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return m
}

func (c *Controller) enqueuePDB(obj any) {
	if m := metaOf(obj); m != nil {
		c.queue.Add(m.GetNamespace() + "/" + m.GetName())
	}
}

func (c *Controller) podChanged(obj any) {
	m := metaOf(obj)
	if m == nil {
		return
	}
	pdbs, err := c.pdbs.PodDisruptionBudgets(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err == nil && sel.Matches(labels.Set(m.GetLabels())) {
			c.queue.Add(pdb.Namespace + "/" + pdb.Name)
		}
	}
}

func (c *Controller) namespaceChanged(obj any) {
	m := metaOf(obj)
	if m == nil {
		return
	}
	pdbs, err := c.pdbs.PodDisruptionBudgets(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		c.queue.Add(pdb.Namespace + "/" + pdb.Name)
	}
}

// Run keeps budgets' status with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if workers < 1 {
		workers = 1
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
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
			c.log.Info("budget status not updated, retrying", "pdb", key, "err", err)
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

// sync recomputes one budget's status. It returns when an entry of disruptedPods expires.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pdb, err := c.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	log := c.log.With("pdb", key)
	pods, err := c.selectedPods(pdb)
	if err != nil {
		return 0, c.failSafe(ctx, pdb, err)
	}
	if len(pods) == 0 {
		c.event(pdb, corev1.EventTypeNormal, ReasonNoPods, "No matching pods found")
	}
	expected, desired, unmanaged, err := c.expectedCount(ctx, pdb, pods)
	if len(unmanaged) > 0 {
		c.event(pdb, corev1.EventTypeWarning, ReasonUnmanagedPods, "Pods selected by this PodDisruptionBudget (selector: %v) were found "+
			"to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
			"To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.", pdb.Spec.Selector)
	}
	if err != nil {
		c.event(pdb, corev1.EventTypeWarning, ReasonCalculateFail, "Failed to calculate the number of expected pods: %v", err)
		return 0, c.failSafe(ctx, pdb, err)
	}
	now := c.cfg.Clock.Now()
	disrupted, recheck := disruptedPods(pdb, pods, now)
	healthy := countHealthy(pods, disrupted, now)
	allowed := healthy - desired
	if expected <= 0 || allowed <= 0 {
		allowed = 0
	}
	st := pdb.Status.DeepCopy()
	st.CurrentHealthy, st.DesiredHealthy, st.ExpectedPods, st.DisruptionsAllowed = healthy, desired, expected, allowed
	st.ObservedGeneration = pdb.Generation
	st.DisruptedPods = disrupted
	cond := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue, Reason: policyv1.SufficientPodsReason,
		ObservedGeneration: pdb.Generation, LastTransitionTime: metav1.NewTime(now)}
	if allowed == 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, policyv1.InsufficientPodsReason
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	if err := c.writeStatus(ctx, pdb, st); err != nil {
		return 0, err
	}
	log.Debug("budget counted", "healthy", healthy, "desired", desired, "expected", expected, "allowed", allowed)
	return recheck, nil
}

func (c *Controller) event(obj runtime.Object, typ, reason, format string, args ...any) {
	if c.cfg.Recorder != nil {
		c.cfg.Recorder.Eventf(obj, typ, reason, format, args...)
	}
}

// selectedPods lists the pods of pdb's namespace its selector picks: an empty selector picks all
// of them, a missing one none (policy/v1).
func (c *Controller) selectedPods(pdb *policyv1.PodDisruptionBudget) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("invalid selector: %w", err)
	}
	pods, err := c.pods.Pods(pdb.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods, nil
}

// expectedCount is upstream's rule: an integer minAvailable needs no controller (expected = the
// pods found); a percentage, or maxUnavailable, scales from the sum of the pods' controllers'
// replicas.
func (c *Controller) expectedCount(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, unmanaged, err = c.expectedScale(ctx, pdb, pods)
		if err != nil {
			return 0, 0, unmanaged, err
		}
		maxUnavail, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, unmanaged, err
		}
		desired = expected - int32(maxUnavail)
		if desired < 0 {
			desired = 0
		}
		return expected, desired, unmanaged, nil
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		return int32(len(pods)), pdb.Spec.MinAvailable.IntVal, nil, nil
	case pdb.Spec.MinAvailable != nil:
		expected, unmanaged, err = c.expectedScale(ctx, pdb, pods)
		if err != nil {
			return 0, 0, unmanaged, err
		}
		minAvail, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, unmanaged, err
		}
		return expected, int32(minAvail), unmanaged, nil
	}
	return 0, 0, nil, errors.New("neither minAvailable nor maxUnavailable is set")
}

// expectedScale sums the replicas of the controllers of pods, each controller once. Pods
// without a controller are unmanaged and count nothing.
func (c *Controller) expectedScale(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (int32, []string, error) {
	seen := map[types.UID]bool{}
	var unmanaged []string
	var total int32
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil {
			unmanaged = append(unmanaged, p.Name)
			continue
		}
		uid, replicas, err := c.scaleOf(ctx, pdb.Namespace, ref)
		if err != nil {
			return 0, unmanaged, err
		}
		if seen[uid] {
			continue
		}
		seen[uid] = true
		total += replicas
	}
	return total, unmanaged, nil
}

// scaleOf finds the controller ref points at (a ReplicaSet counts as its Deployment when it has
// one) and returns its uid and desired replicas.
func (c *Controller) scaleOf(ctx context.Context, ns string, ref *metav1.OwnerReference) (types.UID, int32, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "", 0, fmt.Errorf("controller of pod: %w", err)
	}
	notFound := fmt.Errorf("%s %s/%s (uid %s) not found", ref.Kind, ns, ref.Name, ref.UID)
	replicas := func(r *int32) int32 {
		if r == nil {
			return 1
		}
		return *r
	}
	switch {
	case gv.Group == appsv1.GroupName && ref.Kind == "ReplicaSet":
		rs, err := c.rss.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, notFound
		}
		if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == "Deployment" {
			d, err := c.deps.Deployments(ns).Get(dref.Name)
			if err != nil || d.UID != dref.UID {
				return "", 0, fmt.Errorf("Deployment %s/%s (uid %s) not found", ns, dref.Name, dref.UID)
			}
			return d.UID, replicas(d.Spec.Replicas), nil
		}
		return rs.UID, replicas(rs.Spec.Replicas), nil
	case gv.Group == appsv1.GroupName && ref.Kind == "StatefulSet":
		s, err := c.sts.StatefulSets(ns).Get(ref.Name)
		if err != nil || s.UID != ref.UID {
			return "", 0, notFound
		}
		return s.UID, replicas(s.Spec.Replicas), nil
	}
	if c.cfg.Scales == nil {
		return "", 0, fmt.Errorf("no scale for %s %s/%s: unknown controller kind", ref.Kind, ns, ref.Name)
	}
	mapping, err := c.cfg.Mapper.RESTMapping(gv.WithKind(ref.Kind).GroupKind(), gv.Version)
	if err != nil {
		return "", 0, fmt.Errorf("no scale for %s %s/%s: %w", ref.Kind, ns, ref.Name, err)
	}
	s, err := c.cfg.Scales.Scales(ns).Get(ctx, mapping.Resource.GroupResource(), ref.Name, metav1.GetOptions{})
	if err != nil {
		return "", 0, fmt.Errorf("scale of %s %s/%s: %w", ref.Kind, ns, ref.Name, err)
	}
	if s.UID != ref.UID {
		return "", 0, notFound
	}
	return s.UID, s.Spec.Replicas, nil
}

// disruptedPods keeps the entries of evicted pods that are still there and within the timeout;
// recheck is when the first kept entry expires.
func disruptedPods(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, now time.Time) (map[string]metav1.Time, time.Duration) {
	if len(pdb.Status.DisruptedPods) == 0 {
		return nil, 0
	}
	byName := map[string]*corev1.Pod{}
	for _, p := range pods {
		byName[p.Name] = p
	}
	out := map[string]metav1.Time{}
	var recheck time.Duration
	for name, at := range pdb.Status.DisruptedPods {
		p, ok := byName[name]
		if !ok || p.DeletionTimestamp != nil {
			continue // the eviction went through
		}
		expires := at.Add(DeletionTimeout)
		if !now.Before(expires) {
			continue // the pod outlived its eviction: count it again
		}
		out[name] = at
		if d := expires.Sub(now); recheck == 0 || d < recheck {
			recheck = d
		}
	}
	if len(out) == 0 {
		return nil, 0
	}
	return out, recheck
}

func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time, now time.Time) int32 {
	var n int32
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if at, ok := disrupted[p.Name]; ok && now.Before(at.Add(DeletionTimeout)) {
			continue
		}
		if podReady(p) {
			n++
		}
	}
	return n
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// failSafe allows no disruption when the budget cannot be counted.
func (c *Controller) failSafe(ctx context.Context, pdb *policyv1.PodDisruptionBudget, cause error) error {
	st := pdb.Status.DeepCopy()
	st.DisruptionsAllowed = 0
	st.ObservedGeneration = pdb.Generation
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
		Reason: policyv1.SyncFailedReason, Message: cause.Error(), ObservedGeneration: pdb.Generation,
		LastTransitionTime: metav1.NewTime(c.cfg.Clock.Now())})
	if err := c.writeStatus(ctx, pdb, st); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, st *policyv1.PodDisruptionBudgetStatus) error {
	if apiequality.Semantic.DeepEqual(&pdb.Status, st) {
		return nil
	}
	upd := pdb.DeepCopy()
	upd.Status = *st
	_, err := c.cfg.Client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
