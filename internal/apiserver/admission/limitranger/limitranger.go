package limitranger

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/limitrange"
	"github.com/skiff-dev/skiff/internal/podresources"
)

// Annotation records on a pod which defaults LimitRanger set.
const Annotation = "kubernetes.io/limit-ranger"

var (
	podsGVR        = corev1.SchemeGroupVersion.WithResource("pods")
	pvcsGVR        = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
	limitRangesGVR = corev1.SchemeGroupVersion.WithResource("limitranges")
)

// Plugin is the LimitRanger plugin.
type Plugin struct {
	lookup admission.Lookup
	// changed remembers namespaces whose LimitRanges were just written, which the cache may not
	// show yet.
	changed *admission.Recent
}

// New returns the plugin.
func New(l admission.Lookup) *Plugin {
	return &Plugin{lookup: l, changed: admission.NewRecent(30 * time.Second)}
}

// applies says whether the request is one LimitRanger looks at: pods on create only (their
// containers' resources cannot change afterwards), claims on create and update (a resize).
func applies(a *admission.Attributes) bool {
	if a.Subresource != "" || a.Namespace == "" {
		return false
	}
	switch a.Resource.GroupResource() {
	case podsGVR.GroupResource():
		return a.Operation == admission.Create
	case pvcsGVR.GroupResource():
		return a.Operation == admission.Create || a.Operation == admission.Update
	}
	return false
}

// limitRanges returns the namespace's LimitRanges (copies, defaulted), from storage where one was
// just written.
func (p *Plugin) limitRanges(ctx context.Context, namespace string) ([]*corev1.LimitRange, error) {
	var objs []runtime.Object
	var err error
	if p.changed.Has(namespace) {
		objs, err = admission.ListLive(ctx, p.lookup, limitRangesGVR, namespace)
	} else {
		objs, err = p.lookup.List(ctx, limitRangesGVR, namespace)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("listing limit ranges of namespace %s: %w", namespace, err))
	}
	out := make([]*corev1.LimitRange, 0, len(objs))
	for _, o := range objs {
		lr, ok := o.(*corev1.LimitRange)
		if !ok {
			continue
		}
		lr = lr.DeepCopy()
		limitrange.Default(lr)
		out = append(out, lr)
	}
	return out, nil
}

// Admit sets the default requests and limits of a new pod's containers.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Resource.GroupResource() == limitRangesGVR.GroupResource() && a.Operation != admission.Connect && !a.DryRun {
		p.changed.Mark(a.Namespace)
	}
	if !applies(a) {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	lrs, err := p.limitRanges(ctx, a.Namespace)
	if err != nil {
		return err
	}
	for _, lr := range lrs {
		applyDefaults(pod, lr)
	}
	return nil
}

// applyDefaults fills what the pod's containers leave unset from the Container item of lr.
func applyDefaults(pod *corev1.Pod, lr *corev1.LimitRange) {
	defReq, defLim := corev1.ResourceList{}, corev1.ResourceList{}
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		for k, v := range item.DefaultRequest {
			defReq[k] = v.DeepCopy()
		}
		for k, v := range item.Default {
			defLim[k] = v.DeepCopy()
		}
	}
	if len(defReq) == 0 && len(defLim) == 0 {
		return
	}
	var notes []string
	merge := func(c *corev1.Container, kind string) {
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		if c.Resources.Limits == nil {
			c.Resources.Limits = corev1.ResourceList{}
		}
		var setReq, setLim []string
		for k, v := range defLim {
			if _, ok := c.Resources.Limits[k]; !ok {
				c.Resources.Limits[k] = v.DeepCopy()
				setLim = append(setLim, string(k))
			}
		}
		for k, v := range defReq {
			if _, ok := c.Resources.Requests[k]; !ok {
				c.Resources.Requests[k] = v.DeepCopy()
				setReq = append(setReq, string(k))
			}
		}
		if len(setReq) > 0 {
			sort.Strings(setReq)
			notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(setReq, ", "), kind, c.Name))
		}
		if len(setLim) > 0 {
			sort.Strings(setLim)
			notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(setLim, ", "), kind, c.Name))
		}
	}
	for i := range pod.Spec.InitContainers {
		merge(&pod.Spec.InitContainers[i], "init container")
	}
	for i := range pod.Spec.Containers {
		merge(&pod.Spec.Containers[i], "container")
	}
	if len(notes) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[Annotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
	}
}

// Validate refuses pods and claims outside their namespace's limits.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if !applies(a) {
		return nil
	}
	lrs, err := p.limitRanges(ctx, a.Namespace)
	if err != nil {
		return err
	}
	for _, lr := range lrs {
		var errs []error
		switch o := a.Object.(type) {
		case *corev1.Pod:
			errs = validatePod(o, lr)
		case *corev1.PersistentVolumeClaim:
			errs = validateClaim(o, lr)
		}
		if len(errs) > 0 {
			return admission.NewForbidden(a, utilerrors.NewAggregate(errs))
		}
	}
	return nil
}

func validatePod(pod *corev1.Pod, lr *corev1.LimitRange) []error {
	var errs []error
	check := func(limitType string, item corev1.LimitRangeItem, req, lim corev1.ResourceList) {
		for _, k := range sortedNames(item.Min) {
			if err := minConstraint(limitType, k, item.Min[k], req, lim); err != nil {
				errs = append(errs, err)
			}
		}
		for _, k := range sortedNames(item.Max) {
			if err := maxConstraint(limitType, k, item.Max[k], req, lim); err != nil {
				errs = append(errs, err)
			}
		}
		for _, k := range sortedNames(item.MaxLimitRequestRatio) {
			if err := ratioConstraint(limitType, k, item.MaxLimitRequestRatio[k], req, lim); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
				for i := range cs {
					check(string(item.Type), item, cs[i].Resources.Requests, cs[i].Resources.Limits)
				}
			}
		case corev1.LimitTypePod:
			check(string(item.Type), item, podresources.Requests(pod), podresources.Limits(pod))
		}
	}
	return errs
}

func validateClaim(pvc *corev1.PersistentVolumeClaim, lr *corev1.LimitRange) []error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypePersistentVolumeClaim {
			continue
		}
		req := pvc.Spec.Resources.Requests
		for _, k := range sortedNames(item.Min) {
			if err := minConstraint(string(item.Type), k, item.Min[k], req, nil); err != nil {
				errs = append(errs, err)
			}
		}
		for _, k := range sortedNames(item.Max) {
			if err := maxRequestConstraint(string(item.Type), k, item.Max[k], req); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

func sortedNames(rl corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(rl))
	for k := range rl {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// compared returns request, limit and enforced value in milli-units when none overflows, so that
// 100m and 0.1 compare equal and fractional CPUs compare exactly.
func compared(req, lim, enforced resource.Quantity) (int64, int64, int64) {
	r, l, e := req.Value(), lim.Value(), enforced.Value()
	if r <= resource.MaxMilliValue && l <= resource.MaxMilliValue && e <= resource.MaxMilliValue {
		return req.MilliValue(), lim.MilliValue(), enforced.MilliValue()
	}
	return r, l, e
}

func minConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, request, limit corev1.ResourceList) error {
	req, hasReq := request[name]
	lim, hasLim := limit[name]
	r, l, e := compared(req, lim, enforced)
	switch {
	case !hasReq:
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", name, limitType, enforced.String())
	case r < e:
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	case hasLim && l < e:
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", name, limitType, enforced.String(), lim.String())
	}
	return nil
}

func maxConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, request, limit corev1.ResourceList) error {
	req, hasReq := request[name]
	lim, hasLim := limit[name]
	r, l, e := compared(req, lim, enforced)
	switch {
	case !hasLim:
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", name, limitType, enforced.String())
	case l > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", name, limitType, enforced.String(), lim.String())
	case hasReq && r > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	}
	return nil
}

func maxRequestConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, request corev1.ResourceList) error {
	req, hasReq := request[name]
	r, _, e := compared(req, resource.Quantity{}, enforced)
	switch {
	case !hasReq:
		return fmt.Errorf("maximum %s usage per %s is %s.  No request is specified", name, limitType, enforced.String())
	case r > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	}
	return nil
}

func ratioConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, request, limit corev1.ResourceList) error {
	req, hasReq := request[name]
	lim, hasLim := limit[name]
	r, l, _ := compared(req, lim, enforced)
	if !hasReq || r == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, limitType, enforced.String())
	}
	if !hasLim || l == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, limitType, enforced.String())
	}
	ratio := float64(l) / float64(r)
	shown := ratio
	maxRatio := float64(enforced.Value())
	if enforced.Value() <= resource.MaxMilliValue {
		ratio *= 1000
		maxRatio = float64(enforced.MilliValue())
	}
	if ratio > maxRatio {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, limitType, enforced.String(), shown)
	}
	return nil
}
