package eviction

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

var (
	podsGVR = corev1.SchemeGroupVersion.WithResource("pods")
	pdbsGVR = policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets")
	pdbGR   = schema.GroupResource{Group: "policy", Resource: "poddisruptionbudget"}
)

// MaxDisruptedPods bounds a budget's disruptedPods: past it the disruption controller has stopped
// confirming evictions, and more would only grow the object.
const MaxDisruptedPods = 2000

// maxAttempts bounds the retries of a budget update that keeps losing to concurrent evictions.
const maxAttempts = 20

// Evictor checks evictions against PodDisruptionBudgets.
type Evictor struct {
	lookup admission.Lookup
	now    func() time.Time
}

// New returns an Evictor reading and writing through l.
func New(l admission.Lookup) *Evictor { return &Evictor{lookup: l, now: time.Now} }

// Evict returns nil when the pod may be deleted now, a 429 when its budget forbids it. With
// dryRun it checks without taking from the budget.
func (e *Evictor) Evict(ctx context.Context, namespace, name string, dryRun bool) error {
	obj, err := e.lookup.Get(ctx, podsGVR, namespace, name)
	if apierrors.IsNotFound(err) {
		obj, err = admission.GetLive(ctx, e.lookup, podsGVR, namespace, name)
	}
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	if canIgnoreBudget(pod) {
		return nil
	}
	live := false
	for attempt := 0; attempt < maxAttempts; attempt++ {
		pdbs, err := e.budgets(ctx, pod, live)
		if err != nil {
			return err
		}
		switch {
		case len(pdbs) == 0:
			return nil
		case len(pdbs) > 1:
			return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
				Message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."}}
		}
		pdb := pdbs[0]
		if !podReady(pod) {
			// An unhealthy pod does not count towards the budget's healthy pods: evicting it
			// takes nothing from the budget when the policy says so, or when the budget is met
			// without it.
			if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == policyv1.AlwaysAllow {
				return nil
			}
			if pdb.Status.DesiredHealthy > 0 && pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy {
				return nil
			}
		}
		if err := e.take(pdb, pod.Name, dryRun); err != nil || dryRun {
			return err
		}
		_, err = e.lookup.Update(ctx, pdbsGVR, pdb, "status")
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) {
			return err
		}
		live = true
	}
	return tooManyRequests(0, "")
}

// canIgnoreBudget: a pod that is not running, or already going, disrupts nothing more.
func canIgnoreBudget(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// budgets returns copies of the budgets selecting pod. A budget with an empty or invalid
// selector selects nothing here, whatever its controller thinks.
func (e *Evictor) budgets(ctx context.Context, pod *corev1.Pod, live bool) ([]*policyv1.PodDisruptionBudget, error) {
	var objs []runtime.Object
	var err error
	if live {
		objs, err = admission.ListLive(ctx, e.lookup, pdbsGVR, pod.Namespace)
	} else {
		objs, err = e.lookup.List(ctx, pdbsGVR, pod.Namespace)
	}
	if err != nil {
		return nil, err
	}
	var out []*policyv1.PodDisruptionBudget
	for _, o := range objs {
		pdb, ok := o.(*policyv1.PodDisruptionBudget)
		if !ok || pdb.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb.DeepCopy())
	}
	return out, nil
}

// take checks pdb and takes one disruption from it for podName.
func (e *Evictor) take(pdb *policyv1.PodDisruptionBudget, podName string, dryRun bool) error {
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return tooManyRequests(10, fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	}
	if pdb.Status.DisruptionsAllowed < 0 {
		return apierrors.NewForbidden(pdbGR, pdb.Name, errors.New("pdb disruptions allowed is negative"))
	}
	if len(pdb.Status.DisruptedPods) > MaxDisruptedPods {
		return apierrors.NewForbidden(pdbGR, pdb.Name, errors.New("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	}
	if pdb.Status.DisruptionsAllowed == 0 {
		return tooManyRequests(0, fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently",
			pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy))
	}
	pdb.Status.DisruptionsAllowed--
	if dryRun {
		return nil
	}
	now := metav1.NewTime(e.now())
	if pdb.Status.DisruptionsAllowed == 0 {
		meta.SetStatusCondition(&pdb.Status.Conditions, metav1.Condition{
			Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse, Reason: policyv1.InsufficientPodsReason,
			ObservedGeneration: pdb.Status.ObservedGeneration, LastTransitionTime: now,
		})
	}
	if pdb.Status.DisruptedPods == nil {
		pdb.Status.DisruptedPods = map[string]metav1.Time{}
	}
	// Tells the disruption controller the pod is going, so it stops counting it as healthy; it
	// drops the entry if the pod is still there after a while.
	pdb.Status.DisruptedPods[podName] = now
	return nil
}

func tooManyRequests(retryAfter int, cause string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", retryAfter)
	if cause != "" {
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: cause})
	}
	return err
}
