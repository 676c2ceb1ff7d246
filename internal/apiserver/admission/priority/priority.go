package priority

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

var (
	podsGVR            = corev1.SchemeGroupVersion.WithResource("pods")
	priorityClassesGVR = schedulingv1.SchemeGroupVersion.WithResource("priorityclasses")
)

// Plugin is the Priority plugin.
type Plugin struct {
	lookup admission.Lookup
}

// New returns the plugin.
func New(l admission.Lookup) *Plugin { return &Plugin{lookup: l} }

// Admit resolves a new pod's priority.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Subresource != "" || a.Resource.GroupResource() != podsGVR.GroupResource() {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	switch a.Operation {
	case admission.Update:
		// The priority was resolved at creation and cannot change: an update that omits it
		// (a PUT of an object read before this plugin existed, say) keeps the stored one.
		if old, ok := a.OldObject.(*corev1.Pod); ok {
			if pod.Spec.Priority == nil {
				pod.Spec.Priority = old.Spec.Priority
			}
			if pod.Spec.PreemptionPolicy == nil {
				pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
			}
		}
		return nil
	case admission.Create:
	default:
		return nil
	}
	var value int32
	var policy *corev1.PreemptionPolicy
	if pod.Spec.PriorityClassName == "" {
		pc, err := p.globalDefault(ctx)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to get default priority class: %v", err))
		}
		if pc != nil {
			pod.Spec.PriorityClassName = pc.Name
			value, policy = pc.Value, pc.PreemptionPolicy
		}
	} else {
		obj, err := p.lookup.Get(ctx, priorityClassesGVR, "", pod.Spec.PriorityClassName)
		if apierrors.IsNotFound(err) {
			obj, err = admission.GetLive(ctx, p.lookup, priorityClassesGVR, "", pod.Spec.PriorityClassName)
		}
		if apierrors.IsNotFound(err) {
			return admission.NewForbidden(a, fmt.Errorf("no PriorityClass with name %v was found", pod.Spec.PriorityClassName))
		}
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to get PriorityClass with name %s: %v", pod.Spec.PriorityClassName, err))
		}
		pc := obj.(*schedulingv1.PriorityClass)
		value, policy = pc.Value, pc.PreemptionPolicy
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return admission.NewForbidden(a, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if policy != nil {
		if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != *policy {
			return admission.NewForbidden(a, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, *policy))
		}
		pp := *policy
		pod.Spec.PreemptionPolicy = &pp
	}
	return nil
}

// Validate keeps the global default unique.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Subresource != "" || a.Resource.GroupResource() != priorityClassesGVR.GroupResource() ||
		(a.Operation != admission.Create && a.Operation != admission.Update) {
		return nil
	}
	pc, ok := a.Object.(*schedulingv1.PriorityClass)
	if !ok || !pc.GlobalDefault {
		return nil
	}
	def, err := p.globalDefault(ctx)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if def != nil && (a.Operation == admission.Create || def.Name != pc.Name) {
		return admission.NewForbidden(a, fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", def.Name))
	}
	return nil
}

// globalDefault returns the class marked globalDefault, if any; should several be (created
// concurrently), the lowest value wins, as upstream.
func (p *Plugin) globalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	objs, err := p.lookup.List(ctx, priorityClassesGVR, "")
	if err != nil {
		return nil, err
	}
	var best *schedulingv1.PriorityClass
	for _, o := range objs {
		pc, ok := o.(*schedulingv1.PriorityClass)
		if !ok || !pc.GlobalDefault {
			continue
		}
		if best == nil || pc.Value < best.Value {
			best = pc
		}
	}
	return best, nil
}
