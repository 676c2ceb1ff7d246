package statefulset

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-dev/skiff/internal/controller/controllerref"
	"github.com/skiff-dev/skiff/internal/controller/history"
)

// Event reasons, as upstream.
const (
	SuccessfulCreate = "SuccessfulCreate"
	FailedCreate     = "FailedCreate"
	SuccessfulDelete = "SuccessfulDelete"
	FailedDelete     = "FailedDelete"
	SuccessfulUpdate = "SuccessfulUpdate"
	FailedUpdate     = "FailedUpdate"
)

// sync reconciles one set. It is level-triggered: everything it decides comes from the caches,
// and every write it makes is one step towards the spec that a later sync would make again.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := c.sets.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	log := c.log.With("statefulset", key)
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || selector.Empty() {
		// Validation rejects these; a stored one is not ours to act on.
		log.Warn("invalid selector, not syncing", "err", err)
		return nil
	}
	if set.DeletionTimestamp != nil {
		// The garbage collector removes the pods of a set being deleted.
		return nil
	}
	pods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return err
	}
	revs, err := c.revisions.Owned(set, selector)
	if err != nil {
		return err
	}
	current, update, collisions, err := c.pickRevisions(ctx, set, revs)
	if err != nil {
		return err
	}
	r := &round{c: c, set: set, current: current, update: update, now: c.now(), log: log}
	stepErr := r.reconcile(ctx, pods)
	status := r.status(collisions)
	if err := c.writeStatus(ctx, set, status); err != nil {
		return err
	}
	if stepErr != nil {
		return stepErr
	}
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		live[revisionOf(p)] = true
	}
	limit := int32(10)
	if set.Spec.RevisionHistoryLimit != nil {
		limit = *set.Spec.RevisionHistoryLimit
	}
	if revs, err = c.revisions.Owned(set, selector); err != nil {
		return err
	}
	if err := c.revisions.Truncate(ctx, revs, live, limit); err != nil {
		return err
	}
	if r.recheck > 0 {
		c.queue.AddAfter(key, r.recheck)
	}
	return nil
}

// pickRevisions finds or makes the revision of the current template (the update revision) and
// the revision the set's status calls current.
func (c *Controller) pickRevisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisions int32, err error) {
	if set.Status.CollisionCount != nil {
		collisions = *set.Status.CollisionCount
	}
	data, err := history.TemplatePatch(&set.Spec.Template)
	if err != nil {
		return nil, nil, collisions, err
	}
	next := history.Next(revs)
	candidate := history.New(set, Kind, set.Spec.Template.Labels, data, next, &collisions)
	equal := history.FindEqual(revs, candidate)
	switch {
	case len(equal) > 0 && equal[len(equal)-1].Revision == next-1:
		update = equal[len(equal)-1]
	case len(equal) > 0:
		// An older template is back (a rollback): its revision becomes the newest.
		if update, err = c.revisions.Renumber(ctx, equal[len(equal)-1], next); err != nil {
			return nil, nil, collisions, err
		}
	default:
		if update, collisions, err = c.revisions.Create(ctx, set, candidate, &collisions); err != nil {
			return nil, nil, collisions, err
		}
	}
	current = update
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
		}
	}
	return current, update, collisions, nil
}

// round is one pass of the reconciliation for one set.
type round struct {
	c               *Controller
	set             *appsv1.StatefulSet
	current, update *appsv1.ControllerRevision
	now             time.Time
	log             interface {
		Info(string, ...any)
	}
	// replicas holds the pod of each ordinal in range (index = ordinal - start); condemned the
	// pods of ordinals out of range, lowest first.
	replicas  []*corev1.Pod
	condemned []*corev1.Pod
	// recheck is when a pod becomes available by minReadySeconds, so status and ordering move on.
	recheck time.Duration
}

func (r *round) reconcile(ctx context.Context, pods []*corev1.Pod) error {
	set := r.set
	start, n := startOrdinal(set), replicaCount(set)
	r.replicas = make([]*corev1.Pod, n)
	for _, p := range pods {
		_, ord, ok := ordinalOf(p.Name)
		if !ok {
			continue
		}
		if ord >= start && ord < start+n {
			r.replicas[ord-start] = p
		} else {
			r.condemned = append(r.condemned, p)
		}
	}
	sort.Slice(r.condemned, func(i, j int) bool {
		_, a, _ := ordinalOf(r.condemned[i].Name)
		_, b, _ := ordinalOf(r.condemned[j].Name)
		return a < b
	})
	for _, p := range append(append([]*corev1.Pod(nil), r.replicas...), r.condemned...) {
		if p != nil {
			if left := availableIn(p, set.Spec.MinReadySeconds, r.now); left > 0 && (r.recheck == 0 || left < r.recheck) {
				r.recheck = left
			}
		}
	}
	ordered := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	minReady := set.Spec.MinReadySeconds

	// Every ordinal in range gets its pod, lowest first; under OrderedReady the pass stops at the
	// first ordinal that is not yet healthy.
	for i := range r.replicas {
		ord := start + i
		p := r.replicas[i]
		switch {
		case p == nil:
			created, err := r.createPod(ctx, ord, i)
			if err != nil {
				return err
			}
			r.replicas[i] = created
			if ordered {
				return nil
			}
			continue
		case isFinished(p) && !isTerminating(p):
			// A failed or finished incarnation is replaced under the same name.
			if err := r.deletePod(ctx, p); err != nil {
				return err
			}
			if ordered {
				return nil
			}
			continue
		case isTerminating(p):
			if ordered {
				return nil
			}
			continue
		}
		if err := r.ensureClaims(ctx, p, ord, true); err != nil {
			return err
		}
		if !identityMatches(set, p, ord) {
			if err := r.fixIdentity(ctx, p, ord); err != nil {
				return err
			}
		}
		if ordered && !isHealthy(p, minReady, r.now) {
			return nil
		}
	}

	// Ordinals out of range go, highest first; under OrderedReady one at a time, each only once the
	// previous is gone and every replica kept is healthy (the pass above returned otherwise).
	for i := len(r.condemned) - 1; i >= 0; i-- {
		p := r.condemned[i]
		_, ord, _ := ordinalOf(p.Name)
		if err := r.ensureClaims(ctx, p, ord, false); err != nil {
			return err
		}
		if isTerminating(p) {
			if ordered {
				return nil
			}
			continue
		}
		if err := r.deletePod(ctx, p); err != nil {
			return err
		}
		if ordered {
			return nil
		}
	}

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return nil
	}
	// A rolling update replaces outdated pods from the highest ordinal down to the partition,
	// keeping at most maxUnavailable of them unavailable at once.
	lowest := partition(set)
	budget := maxUnavailable(set, n)
	unavailable := 0
	for i := lowest; i < n; i++ {
		if !isHealthy(r.replicas[i], minReady, r.now) {
			unavailable++
		}
	}
	for i := n - 1; i >= lowest; i-- {
		p := r.replicas[i]
		if p == nil || isTerminating(p) || revisionOf(p) == r.update.Name {
			continue
		}
		healthy := isHealthy(p, minReady, r.now)
		if healthy && unavailable >= budget {
			return nil
		}
		if err := r.deletePod(ctx, p); err != nil {
			return err
		}
		if healthy {
			unavailable++
		}
	}
	return nil
}

// createPod makes the pod of an ordinal, its claims first. Ordinals below the partition of a
// rolling update keep the current revision; the rest get the update revision.
func (r *round) createPod(ctx context.Context, ord, index int) (*corev1.Pod, error) {
	set := r.set
	rev := r.update
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType && index < partition(set) {
		rev = r.current
	}
	tmpl := &set.Spec.Template
	if rev.Name != r.update.Name {
		t, err := templateOf(rev)
		if err != nil {
			return nil, err
		}
		tmpl = t
	}
	pod := newPod(set, tmpl, rev.Name, ord)
	if err := r.ensureClaims(ctx, nil, ord, true); err != nil {
		return nil, err
	}
	created, err := r.c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Our cache is behind our own create; the pod's event brings the next sync.
		return pod, nil
	}
	if err != nil {
		r.c.recorder.Eventf(set, corev1.EventTypeWarning, FailedCreate, "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return nil, err
	}
	r.c.recorder.Eventf(set, corev1.EventTypeNormal, SuccessfulCreate, "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	r.log.Info("created pod", "pod", pod.Name, "revision", rev.Name)
	return created, nil
}

func (r *round) deletePod(ctx context.Context, p *corev1.Pod) error {
	set := r.set
	err := r.c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		r.c.recorder.Eventf(set, corev1.EventTypeWarning, FailedDelete, "delete Pod %s in StatefulSet %s failed error: %v", p.Name, set.Name, err)
		return err
	}
	r.c.recorder.Eventf(set, corev1.EventTypeNormal, SuccessfulDelete, "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
	r.log.Info("deleted pod", "pod", p.Name)
	// Count it as going away for the rest of this round and for status.
	c := p.DeepCopy()
	now := metav1.NewTime(r.now)
	c.DeletionTimestamp = &now
	r.replace(p, c)
	return nil
}

func (r *round) replace(old, cur *corev1.Pod) {
	for i := range r.replicas {
		if r.replicas[i] == old {
			r.replicas[i] = cur
		}
	}
	for i := range r.condemned {
		if r.condemned[i] == old {
			r.condemned[i] = cur
		}
	}
}

func (r *round) fixIdentity(ctx context.Context, p *corev1.Pod, ord int) error {
	c := p.DeepCopy()
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[PodNameLabel] = c.Name
	c.Labels[PodIndexLabel] = fmt.Sprint(ord)
	updated, err := r.c.client.CoreV1().Pods(c.Namespace).Update(ctx, c, metav1.UpdateOptions{})
	if err != nil {
		r.c.recorder.Eventf(r.set, corev1.EventTypeWarning, FailedUpdate, "update Pod %s in StatefulSet %s failed error: %v", p.Name, r.set.Name, err)
		return err
	}
	r.replace(p, updated)
	return nil
}

// ensureClaims creates the claims of an ordinal that are missing and keeps their owners as the
// retention policy says. pod is nil before the pod exists; create is false for ordinals being
// scaled away, whose missing claims are not brought back.
func (r *round) ensureClaims(ctx context.Context, pod *corev1.Pod, ord int, create bool) error {
	set := r.set
	for _, ct := range set.Spec.VolumeClaimTemplates {
		name := ClaimName(set, ct.Name, ord)
		pvc, err := r.c.claims.PersistentVolumeClaims(set.Namespace).Get(name)
		switch {
		case apierrors.IsNotFound(err) && !create:
		case apierrors.IsNotFound(err):
			claim := newClaim(set, &ct, name)
			setClaimOwners(claim, set, pod, ord)
			_, err := r.c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, claim, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				r.c.recorder.Eventf(set, corev1.EventTypeWarning, FailedCreate, "create Claim %s for Pod %s in StatefulSet %s failed error: %v", name, podName(set, ord), set.Name, err)
				return err
			}
			r.c.recorder.Eventf(set, corev1.EventTypeNormal, SuccessfulCreate, "create Claim %s Pod %s in StatefulSet %s success", name, podName(set, ord), set.Name)
			r.log.Info("created claim", "claim", name, "pod", podName(set, ord))
		case err != nil:
			return err
		case pvc.DeletionTimestamp != nil:
			// The old claim must be gone before the ordinal gets a fresh one.
			if pod == nil {
				return fmt.Errorf("claim %s/%s of pod %s is being deleted", set.Namespace, name, podName(set, ord))
			}
		default:
			c := pvc.DeepCopy()
			if setClaimOwners(c, set, pod, ord) {
				if _, err := r.c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func newClaim(set *appsv1.StatefulSet, tmpl *corev1.PersistentVolumeClaim, name string) *corev1.PersistentVolumeClaim {
	lbls := copyMap(tmpl.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	if set.Spec.Selector != nil {
		for k, v := range set.Spec.Selector.MatchLabels {
			lbls[k] = v
		}
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: set.Namespace, Labels: lbls, Annotations: copyMap(tmpl.Annotations)},
		Spec:       *tmpl.Spec.DeepCopy(),
	}
}

// setClaimOwners makes a claim's ownerReferences follow the retention policy: owned by the set
// when it goes with the set, by its pod when its ordinal was scaled away and it goes with scale
// down, by neither when retained. It reports whether it changed anything.
func setClaimOwners(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod, ord int) bool {
	policy := set.Spec.PersistentVolumeClaimRetentionPolicy
	start, n := startOrdinal(set), replicaCount(set)
	scaledDown := ord < start || ord >= start+n
	var bySet, byPod bool
	if policy != nil {
		switch {
		case scaledDown && policy.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType && pod != nil:
			byPod = true
		case policy.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
			bySet = true
		}
	}
	var refs []metav1.OwnerReference
	for _, ref := range claim.OwnerReferences {
		isSet := ref.Kind == Kind.Kind && ref.Name == set.Name
		isPod := ref.Kind == "Pod" && ref.APIVersion == "v1"
		if (isSet && !bySet) || (isPod && (!byPod || ref.UID != pod.UID)) || (isSet && ref.UID != set.UID) {
			continue
		}
		refs = append(refs, ref)
	}
	if bySet && !hasOwner(refs, set.UID) {
		refs = append(refs, metav1.OwnerReference{APIVersion: Kind.GroupVersion().String(), Kind: Kind.Kind, Name: set.Name, UID: set.UID})
	}
	if byPod && !hasOwner(refs, pod.UID) {
		refs = append(refs, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID})
	}
	if apiequality.Semantic.DeepEqual(refs, claim.OwnerReferences) || (len(refs) == 0 && len(claim.OwnerReferences) == 0) {
		return false
	}
	claim.OwnerReferences = refs
	return true
}

func hasOwner(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

// status counts what the round left behind.
func (r *round) status(collisions int32) appsv1.StatefulSetStatus {
	set := r.set
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CollisionCount:     &collisions,
		CurrentRevision:    r.current.Name,
		UpdateRevision:     r.update.Name,
	}
	for _, p := range append(append([]*corev1.Pod(nil), r.replicas...), r.condemned...) {
		if p == nil {
			continue
		}
		if isCreated(p) {
			st.Replicas++
		}
		if isRunningAndReady(p) {
			st.ReadyReplicas++
			if availableIn(p, set.Spec.MinReadySeconds, r.now) == 0 {
				st.AvailableReplicas++
			}
		}
		if isCreated(p) && !isTerminating(p) {
			if revisionOf(p) == r.current.Name {
				st.CurrentReplicas++
			}
			if revisionOf(p) == r.update.Name {
				st.UpdatedReplicas++
			}
		}
	}
	// Once every pod runs the update revision and is ready, the update is the current revision.
	if st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas && int(st.Replicas) == replicaCount(set) {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	return st
}

func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, st appsv1.StatefulSetStatus) error {
	st.Conditions = set.Status.Conditions
	if apiequality.Semantic.DeepEqual(set.Status, st) {
		return nil
	}
	cp := set.DeepCopy()
	cp.Status = st
	_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// claimPods returns the set's pods: those it controls and still selects, plus orphans it
// selects and whose names make them members, which it adopts. Controlled pods it no longer
// selects are released.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	m := &controllerref.Manager{Owner: set, OwnerKind: Kind, Selector: selector,
		Adoptable: func(o metav1.Object) bool {
			p, ok := o.(*corev1.Pod)
			return ok && isMember(set, p)
		},
		Fresh: func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		},
		// The adopted pod, not the cached one, so that later writes in this sync do not
		// conflict with the adoption.
		Patch: func(ctx context.Context, name string, data []byte) (metav1.Object, error) {
			p, err := c.client.CoreV1().Pods(set.Namespace).Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
			if err != nil {
				return nil, err
			}
			return p, nil
		}}
	return controllerref.Claim(ctx, m, all)
}
