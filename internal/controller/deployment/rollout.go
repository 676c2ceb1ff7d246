package deployment

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/controller/controllerref"
)

// getAllRSAndSyncRevision finds (or, with create, makes) the new ReplicaSet and keeps its and the
// Deployment's revision annotations current. olds are all the other ReplicaSets.
func (c *Controller) getAllRSAndSyncRevision(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing := findNew(d, rsList)
	olds := others(rsList, existing)
	newRS, err := c.getNewRS(ctx, d, existing, olds, create)
	return newRS, olds, err
}

func (c *Controller) getNewRS(ctx context.Context, d *appsv1.Deployment, existing *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	newRevision := maxRevision(olds) + 1
	if existing != nil {
		rs := existing.DeepCopy()
		annotated := setNewRSAnnotations(d, rs, newRevision, true)
		if annotated || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			return c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
		}
		meta := setDeploymentRevision(d, rs.Annotations[RevisionAnnotation])
		status := false
		// A Deployment that never had a Progressing condition starts the clock when its new
		// ReplicaSet is first seen.
		if hasProgressDeadline(d) && getCondition(&d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonFoundNewRS,
				fmt.Sprintf("Found new replica set %q", rs.Name), c.now()))
			status = true
		}
		return rs, c.writeDeployment(ctx, d, meta, status)
	}
	if !create {
		return nil, nil
	}
	tmpl := *d.Spec.Template.DeepCopy()
	hash := ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
	tmpl.Labels = withLabel(d.Spec.Template.Labels, HashLabel, hash)
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels = withLabel(sel.MatchLabels, HashLabel, hash)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: tmpl.Labels,
			OwnerReferences: []metav1.OwnerReference{*controllerref.NewControllerRef(d, Kind)}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: tmpl},
	}
	n := newRSReplicas(d, append(slices.Clone(olds), rs), rs)
	rs.Spec.Replicas = ptr.To(n)
	setNewRSAnnotations(d, rs, newRevision, false)
	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	alreadyExists := false
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExists = true
		found, gerr := c.rsLister.ReplicaSets(d.Namespace).Get(rs.Name)
		if gerr != nil {
			return nil, gerr
		}
		// Our own ReplicaSet that the cache had not shown yet.
		if ref := metav1.GetControllerOfNoCopy(found); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &found.Spec.Template) {
			created, err = found, nil
			break
		}
		// A hash collision: another template under this name. A new collision count gives a new
		// name on the next sync.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if uerr := c.updateStatus(ctx, d); uerr == nil {
			c.log.Info("pod template hash collision", "deployment", d.Namespace+"/"+d.Name, "replicaset", rs.Name, "collisionCount", *d.Status.CollisionCount)
		}
		return nil, err
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonRSCreateError, msg, c.now()))
			_ = c.updateStatus(ctx, d)
		}
		c.recorder.Event(d, corev1.EventTypeWarning, ReasonRSCreateError, msg)
		return nil, err
	}
	if !alreadyExists && n > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, ReasonScalingReplicaSet, "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	meta := setDeploymentRevision(d, strconv.FormatInt(newRevision, 10))
	status := false
	if !alreadyExists && hasProgressDeadline(d) {
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", created.Name), c.now()))
		status = true
	}
	return created, c.writeDeployment(ctx, d, meta, status)
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// rolloutRolling makes one step of a rolling update per sync: grow the new ReplicaSet within
// maxSurge, else shrink old ones within maxUnavailable, then report.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, olds, err := c.getAllRSAndSyncRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := append(slices.Clone(olds), newRS)
	if up, err := c.reconcileNewRS(ctx, all, newRS, d); err != nil {
		return err
	} else if up {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if down, err := c.reconcileOldRSs(ctx, all, active(olds), newRS, d); err != nil {
		return err
	} else if down {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if complete(d, &d.Status) {
		if err := c.cleanup(ctx, olds, d); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, all, newRS, d)
}

func (c *Controller) reconcileNewRS(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if newRS == nil || replicasOf(newRS) == desired(d) {
		return false, nil
	}
	if replicasOf(newRS) > desired(d) {
		scaled, _, err := c.scaleAndRecord(ctx, newRS, desired(d), d)
		return scaled, err
	}
	scaled, _, err := c.scaleAndRecord(ctx, newRS, newRSReplicas(d, all, newRS), d)
	return scaled, err
}

// reconcileOldRSs shrinks old ReplicaSets as far as availability allows: first their unhealthy
// pods (they serve nothing, and may be what blocks the rollout), then healthy ones.
func (c *Controller) reconcileOldRSs(ctx context.Context, all, olds []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if sum(olds, specReplicas) == 0 {
		return false, nil
	}
	allPods := sum(all, specReplicas)
	minAvailable := desired(d) - MaxUnavailable(d)
	newUnavailable := replicasOf(newRS)
	if newRS != nil {
		newUnavailable -= sureAvailable(newRS)
	}
	maxScaleDown := allPods - minAvailable - newUnavailable
	if maxScaleDown <= 0 {
		return false, nil
	}
	olds, cleaned, err := c.cleanupUnhealthy(ctx, olds, d, maxScaleDown)
	if err != nil {
		return false, err
	}
	all = append(slices.Clone(olds), newRS)
	scaled, err := c.scaleDownOldForRolling(ctx, all, olds, d)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

func (c *Controller) cleanupUnhealthy(ctx context.Context, olds []*appsv1.ReplicaSet, d *appsv1.Deployment, maxCleanup int32) ([]*appsv1.ReplicaSet, int32, error) {
	olds = slices.Clone(olds)
	slices.SortFunc(olds, byCreation)
	var total int32
	for i, rs := range olds {
		if total >= maxCleanup {
			break
		}
		// A status that counts at least as many available pods as the spec asks for shows no
		// unhealthy pod. It counts more right after a scale-down the ReplicaSet controller has
		// not yet reported: taking that difference as a negative cleanup would scale the old
		// set back up, beyond replicas + maxSurge.
		if replicasOf(rs) == 0 || rs.Status.AvailableReplicas >= replicasOf(rs) {
			continue
		}
		n := min(maxCleanup-total, replicasOf(rs)-rs.Status.AvailableReplicas)
		_, updated, err := c.scaleAndRecord(ctx, rs, replicasOf(rs)-n, d)
		if err != nil {
			return nil, total, err
		}
		olds[i] = updated
		total += n
	}
	return olds, total, nil
}

// scaleDownOldForRolling takes old pods away down to replicas - maxUnavailable available ones,
// counting only the pods sure to stay (sureAvailable): a status that still counts pods being
// deleted would make the controller take as many again.
func (c *Controller) scaleDownOldForRolling(ctx context.Context, all, olds []*appsv1.ReplicaSet, d *appsv1.Deployment) (int32, error) {
	minAvailable := desired(d) - MaxUnavailable(d)
	available := sum(all, sureAvailable)
	if available <= minAvailable {
		return 0, nil
	}
	toScale := available - minAvailable
	olds = slices.Clone(olds)
	slices.SortFunc(olds, byCreation)
	var total int32
	for _, rs := range olds {
		if total >= toScale {
			break
		}
		if replicasOf(rs) == 0 {
			continue
		}
		n := min(replicasOf(rs), toScale-total)
		if _, _, err := c.scaleAndRecord(ctx, rs, replicasOf(rs)-n, d); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// rolloutRecreate scales every old ReplicaSet to zero, waits until none of their pods runs,
// then scales the new one up.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, pods map[types.UID][]*corev1.Pod) error {
	newRS, olds, err := c.getAllRSAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	all := append(slices.Clone(olds), newRS)
	scaled := false
	for _, rs := range active(olds) {
		ok, _, err := c.scaleAndRecord(ctx, rs, 0, d)
		if err != nil {
			return err
		}
		scaled = scaled || ok
	}
	if scaled {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if oldPodsRunning(newRS, olds, pods) {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if newRS == nil {
		if newRS, olds, err = c.getAllRSAndSyncRevision(ctx, d, rsList, true); err != nil {
			return err
		}
		all = append(slices.Clone(olds), newRS)
	}
	if ok, _, err := c.scaleAndRecord(ctx, newRS, desired(d), d); err != nil {
		return err
	} else if ok {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if complete(d, &d.Status) {
		if err := c.cleanup(ctx, olds, d); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, all, newRS, d)
}

func oldPodsRunning(newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet, pods map[types.UID][]*corev1.Pod) bool {
	if sum(olds, statusReplicas) > 0 {
		return true
	}
	for uid, ps := range pods {
		if newRS != nil && newRS.UID == uid {
			continue
		}
		for _, p := range ps {
			// Finished pods hold nothing; any other phase may still be running something.
			if p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
				return true
			}
		}
	}
	return false
}

// isScalingEvent: some active ReplicaSet was sized for another spec.replicas.
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, olds, err := c.getAllRSAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range active(append(slices.Clone(olds), newRS)) {
		if want, ok := annotationInt(rs, DesiredReplicasAnnotation); ok && want != desired(d) {
			return true, nil
		}
	}
	return false, nil
}

// syncScale handles a resize (and a paused Deployment): sizes change, templates do not.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, olds, err := c.getAllRSAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, olds); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, olds, d); err != nil {
			return err
		}
	}
	return c.syncStatus(ctx, append(slices.Clone(olds), newRS), newRS, d)
}

// scale resizes a Deployment's ReplicaSets: the one active set takes the whole size; with a
// saturated new set the old ones go to zero; mid-rollout the change is shared in proportion to
// each set's size, the remainder to the largest, so a resize neither restarts nor stalls the
// rollout.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) error {
	if rs := activeOrLatest(newRS, olds); rs != nil {
		if replicasOf(rs) == desired(d) {
			return nil
		}
		_, _, err := c.scaleAndRecord(ctx, rs, desired(d), d)
		return err
	}
	if isSaturated(d, newRS) {
		for _, rs := range active(olds) {
			if _, _, err := c.scaleAndRecord(ctx, rs, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRolling(d) {
		return nil
	}
	all := active(append(slices.Clone(olds), newRS))
	var allowed int32
	if desired(d) > 0 {
		allowed = desired(d) + MaxSurge(d)
	}
	toAdd := allowed - sum(all, specReplicas)
	op := ""
	switch {
	case toAdd > 0:
		slices.SortStableFunc(all, func(a, b *appsv1.ReplicaSet) int { return bySize(a, b, true) })
		op = "up"
	case toAdd < 0:
		slices.SortStableFunc(all, func(a, b *appsv1.ReplicaSet) int { return bySize(a, b, false) })
		op = "down"
	}
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		sizes[i] = replicasOf(rs)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	if toAdd != added && len(all) > 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	for i, rs := range all {
		if _, _, err := c.scaleRS(ctx, rs, sizes[i], d, op); err != nil {
			return err
		}
	}
	return nil
}

// bySize orders larger first; among equals newer first (scaling up) or older first (down).
func bySize(a, b *appsv1.ReplicaSet, newerFirst bool) int {
	if ra, rb := replicasOf(a), replicasOf(b); ra != rb {
		if ra > rb {
			return -1
		}
		return 1
	}
	if newerFirst {
		return -byCreation(a, b)
	}
	return byCreation(a, b)
}

func activeOrLatest(newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(olds) == 0 {
		return nil
	}
	sorted := slices.Clone(olds)
	slices.SortFunc(sorted, func(a, b *appsv1.ReplicaSet) int { return -byCreation(a, b) })
	all := active(append(slices.Clone(sorted), newRS))
	switch len(all) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[0]
	case 1:
		return all[0]
	}
	return nil
}

func (c *Controller) scaleAndRecord(ctx context.Context, rs *appsv1.ReplicaSet, n int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	if rs == nil || replicasOf(rs) == n {
		return false, rs, nil
	}
	op := "down"
	if replicasOf(rs) < n {
		op = "up"
	}
	return c.scaleRS(ctx, rs, n, d, op)
}

// scaleRS sets a ReplicaSet's size and the sizing annotations; the ScalingReplicaSet event is
// what `kubectl describe deploy` shows of a rollout.
func (c *Controller) scaleRS(ctx context.Context, rs *appsv1.ReplicaSet, n int32, d *appsv1.Deployment, op string) (bool, *appsv1.ReplicaSet, error) {
	resize := replicasOf(rs) != n
	maxR := desired(d) + MaxSurge(d)
	if !resize && !replicasAnnotationsNeedUpdate(rs, desired(d), maxR) {
		return false, rs, nil
	}
	from := replicasOf(rs)
	cp := rs.DeepCopy()
	cp.Spec.Replicas = ptr.To(n)
	setReplicasAnnotations(cp, desired(d), maxR)
	out, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, err
	}
	if resize {
		c.recorder.Eventf(d, corev1.EventTypeNormal, ReasonScalingReplicaSet, "Scaled %s replica set %s from %d to %d", op, out.Name, from, n)
	}
	return resize, out, nil
}

// cleanup deletes the oldest old ReplicaSets beyond revisionHistoryLimit, only those with no
// pods left and whose controller has seen their latest spec.
func (c *Controller) cleanup(ctx context.Context, olds []*appsv1.ReplicaSet, d *appsv1.Deployment) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range olds {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	extra := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if extra <= 0 {
		return nil
	}
	slices.SortFunc(alive, func(a, b *appsv1.ReplicaSet) int {
		if ra, rb := Revision(a), Revision(b); ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		return byCreation(a, b)
	})
	for _, rs := range alive[:extra] {
		if rs.Status.Replicas != 0 || replicasOf(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// calculateStatus sums the ReplicaSets and sets the Available condition.
func (c *Controller) calculateStatus(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) appsv1.DeploymentStatus {
	available := sum(all, availableReplicas)
	unavailable := max(sum(all, specReplicas)-available, 0)
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sum(all, statusReplicas),
		UpdatedReplicas:     sum([]*appsv1.ReplicaSet{newRS}, statusReplicas),
		ReadyReplicas:       sum(all, readyReplicas),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		CollisionCount:      d.Status.CollisionCount,
		TerminatingReplicas: d.Status.TerminatingReplicas,
	}
	st.Conditions = append(st.Conditions, d.Status.Conditions...)
	if available >= desired(d)-MaxUnavailable(d) {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinimumAvailable, "Deployment has minimum availability.", c.now()))
	} else {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinimumUnavailable, "Deployment does not have minimum availability.", c.now()))
	}
	return st
}

func (c *Controller) syncStatus(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	st := c.calculateStatus(all, newRS, d)
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		return nil
	}
	d.Status = st
	return c.updateStatus(ctx, d)
}

// syncRolloutStatus is syncStatus plus the Progressing condition: progress refreshes it,
// completion marks NewReplicaSetAvailable, and no progress within progressDeadlineSeconds marks
// ProgressDeadlineExceeded.
func (c *Controller) syncRolloutStatus(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	st := c.calculateStatus(all, newRS, d)
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	now := c.now()
	cur := getCondition(&d.Status, appsv1.DeploymentProgressing)
	done := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable
	if hasProgressDeadline(d) && !done {
		subject := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case complete(d, &st):
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSAvailable,
				subject+" has successfully progressed.", now))
		case progressing(d, &st):
			cond := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonRSUpdated, subject+" is progressing.", now)
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					cond.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&st, appsv1.DeploymentProgressing)
			}
			setCondition(&st, cond)
		case timedOut(d, &st, now):
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonTimedOut,
				subject+" has timed out progressing.", now))
		}
	}
	if f := replicaFailure(all, newRS); f != nil {
		setCondition(&st, *f)
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		c.requeueStuck(d, &st)
		return nil
	}
	d.Status = st
	return c.updateStatus(ctx, d)
}

// replicaFailure lifts a ReplicaFailure of the new (else an old) ReplicaSet to the Deployment.
func replicaFailure(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) *appsv1.DeploymentCondition {
	sets := all
	if newRS != nil {
		sets = append([]*appsv1.ReplicaSet{newRS}, all...)
	}
	for _, rs := range sets {
		if rs == nil {
			continue
		}
		for _, rc := range rs.Status.Conditions {
			if rc.Type == appsv1.ReplicaSetReplicaFailure && rc.Status == corev1.ConditionTrue {
				return &appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: rc.Status, Reason: rc.Reason,
					Message: rc.Message, LastUpdateTime: rc.LastTransitionTime, LastTransitionTime: rc.LastTransitionTime}
			}
		}
	}
	return nil
}

// requeueStuck looks at a rollout again when its progress deadline would pass, since nothing
// else would wake the controller for a rollout that makes no progress.
func (c *Controller) requeueStuck(d *appsv1.Deployment, st *appsv1.DeploymentStatus) {
	cur := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cur == nil || complete(d, st) || cur.Reason == ReasonTimedOut || cur.Reason == ReasonNewRSAvailable {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(d)
	if err != nil {
		return
	}
	after := cur.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(c.now())
	if after < time.Second {
		c.queue.AddRateLimited(key)
		return
	}
	c.queue.AddAfter(key, after)
}

// checkPausedConditions records pause and resume in the Progressing condition, which stops the
// deadline clock while paused; a timed-out rollout keeps saying so.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cur := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if cur != nil && cur.Reason == ReasonTimedOut {
		return nil
	}
	paused := cur != nil && cur.Reason == ReasonPaused
	switch {
	case d.Spec.Paused && !paused:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", c.now()))
	case !d.Spec.Paused && paused:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", c.now()))
	default:
		return nil
	}
	return c.updateStatus(ctx, d)
}
