package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/quotausage"
)

var quotasGVR = corev1.SchemeGroupVersion.WithResource("resourcequotas")

// maxAttempts bounds the retries of a charge that keeps losing to concurrent writers.
const maxAttempts = 10

// Plugin is the ResourceQuota plugin.
type Plugin struct {
	lookup admission.Lookup
	// served maps each resource to the version Lookup reads it in, to measure usage.
	served map[schema.GroupResource]schema.GroupVersionResource
	// changed remembers namespaces whose quotas were just written, which the cache may not show
	// yet.
	changed *admission.Recent
}

// New returns the plugin. served lists the resources the server serves (one version of each
// is enough); quota names about other resources measure nothing.
func New(l admission.Lookup, served []schema.GroupVersionResource) *Plugin {
	p := &Plugin{lookup: l, served: map[schema.GroupResource]schema.GroupVersionResource{}, changed: admission.NewRecent(30 * time.Second)}
	for _, gvr := range served {
		if _, ok := p.served[gvr.GroupResource()]; !ok {
			p.served[gvr.GroupResource()] = gvr
		}
	}
	return p
}

// Admit gives a new or changed ResourceQuota its status: hard from spec, used measured now.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Resource.GroupResource() == quotausage.QuotasGR && a.Operation != admission.Connect && !a.DryRun {
		p.changed.Mark(a.Namespace)
	}
	if a.Resource.GroupResource() != quotausage.QuotasGR || a.Subresource != "" ||
		(a.Operation != admission.Create && a.Operation != admission.Update) {
		return nil
	}
	q, ok := a.Object.(*corev1.ResourceQuota)
	if !ok {
		return nil
	}
	if a.Operation == admission.Update {
		if old, ok := a.OldObject.(*corev1.ResourceQuota); ok && apiequality.Semantic.DeepEqual(old.Spec, q.Spec) &&
			apiequality.Semantic.DeepEqual(old.Status.Hard, q.Spec.Hard) {
			return nil
		}
	}
	used, err := p.measure(ctx, a.Namespace, q)
	if err != nil {
		return err
	}
	if a.Operation == admission.Create {
		// The quota counts itself once stored.
		for _, n := range []corev1.ResourceName{corev1.ResourceQuotas, quotausage.CountName(quotausage.QuotasGR)} {
			if _, ok := q.Spec.Hard[n]; ok && quotausage.InScope(q, q) {
				v := used[n]
				v.Add(quotausage.One())
				used[n] = v
			}
		}
	}
	q.Status.Hard = q.Spec.Hard.DeepCopy()
	q.Status.Used = used
	return nil
}

// measure sums the usage of the namespace's stored objects that q tracks, read past the cache.
func (p *Plugin) measure(ctx context.Context, namespace string, q *corev1.ResourceQuota) (corev1.ResourceList, error) {
	used := corev1.ResourceList{}
	for name := range q.Spec.Hard {
		used[name] = resource.Quantity{}
	}
	for gr, names := range quotausage.ByResource(q.Spec.Hard) {
		gvr, ok := p.served[gr]
		if !ok {
			continue
		}
		objs, err := admission.ListLive(ctx, p.lookup, gvr, namespace)
		if err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("measuring quota usage of %s: %w", gr, err))
		}
		quotausage.Add(used, q, gr, names, objs)
	}
	for n, v := range used {
		used[n] = quotausage.Canonical(v, q.Spec.Hard[n])
	}
	return used, nil
}

// request is what one write asks of quotas.
type request struct {
	gr     schema.GroupResource
	obj    runtime.Object // the object quotas' scopes are matched against
	delta  corev1.ResourceList
	create bool
}

// newRequest measures a; nil means the write changes no usage.
func newRequest(a *admission.Attributes) *request {
	gr := a.Resource.GroupResource()
	var newObj, oldObj runtime.Object
	switch a.Operation {
	case admission.Create:
		if a.Subresource != "" {
			return nil
		}
		newObj = a.Object
	case admission.Update:
		// Pods change usage through their status (finishing frees compute); claims and services
		// through their spec. Other objects count once, whatever they say.
		switch {
		case gr == quotausage.PodsGR:
		case (gr == quotausage.ServicesGR || gr == quotausage.PVCsGR) && a.Subresource == "":
		default:
			return nil
		}
		newObj, oldObj = a.Object, a.OldObject
	case admission.Delete:
		if a.Subresource != "" {
			return nil
		}
		oldObj = a.OldObject
	default:
		return nil
	}
	delta := quotausage.Usage(gr, newObj)
	for n, v := range quotausage.Usage(gr, oldObj) {
		cur := delta[n]
		cur.Sub(v)
		delta[n] = cur
	}
	nonZero := false
	for _, v := range delta {
		nonZero = nonZero || !v.IsZero()
	}
	if !nonZero {
		return nil
	}
	obj := newObj
	if obj == nil {
		obj = oldObj
	}
	return &request{gr: gr, obj: obj, delta: delta, create: a.Operation == admission.Create}
}

// Validate charges the write to its namespace's quotas, or refuses it.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Namespace == "" {
		return nil
	}
	// Most namespaces have no quota: that is asked first, since measuring what a request would
	// use is the dearer question.
	quotas, err := p.quotas(ctx, a.Namespace, p.changed.Has(a.Namespace))
	if err != nil || len(quotas) == 0 {
		return err
	}
	req := newRequest(a)
	if req == nil {
		return nil
	}
	charged := map[string]corev1.ResourceList{} // quota name -> what this request added to it
	live := false
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if quotas, err = p.quotas(ctx, a.Namespace, live || p.changed.Has(a.Namespace)); err != nil {
				return err
			}
			if len(quotas) == 0 {
				return nil
			}
		}
		if attempt == 0 && req.create && !a.DryRun && p.exists(ctx, a) {
			// Storage will refuse the duplicate: charging it would leak usage.
			return nil
		}
		type write struct {
			q     *corev1.ResourceQuota
			added corev1.ResourceList
		}
		var writes []write
		for _, q := range quotas {
			if _, done := charged[q.Name]; done {
				continue
			}
			added, next, err := p.check(ctx, a, req, q)
			if err != nil {
				p.rollback(ctx, a.Namespace, charged)
				return err
			}
			if added == nil {
				continue
			}
			q.Status.Used = next
			writes = append(writes, write{q, added})
		}
		if a.DryRun {
			return nil
		}
		conflict := false
		for _, w := range writes {
			if _, err := p.lookup.Update(ctx, quotasGVR, w.q, "status"); err != nil {
				if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
					conflict = true
					continue
				}
				p.rollback(ctx, a.Namespace, charged)
				return apierrors.NewInternalError(fmt.Errorf("recording usage in quota %s: %w", w.q.Name, err))
			}
			charged[w.q.Name] = w.added
		}
		if !conflict {
			return nil
		}
		live = true
	}
	p.rollback(ctx, a.Namespace, charged)
	return apierrors.NewConflict(quotausage.QuotasGR, "", errors.New("too many concurrent writes to the namespace's quotas; try again"))
}

// exists says whether the object a creates is already stored.
func (p *Plugin) exists(ctx context.Context, a *admission.Attributes) bool {
	gvr, ok := p.served[a.Resource.GroupResource()]
	if !ok || a.Name == "" {
		return false
	}
	_, err := admission.GetLive(ctx, p.lookup, gvr, a.Namespace, a.Name)
	return err == nil
}

// quotas lists the namespace's quotas (copies), from storage when live.
func (p *Plugin) quotas(ctx context.Context, namespace string, live bool) ([]*corev1.ResourceQuota, error) {
	var objs []runtime.Object
	var err error
	if live {
		objs, err = admission.ListLive(ctx, p.lookup, quotasGVR, namespace)
	} else {
		objs, err = p.lookup.List(ctx, quotasGVR, namespace)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("listing quotas of namespace %s: %w", namespace, err))
	}
	out := make([]*corev1.ResourceQuota, 0, len(objs))
	for _, o := range objs {
		if q, ok := o.(*corev1.ResourceQuota); ok {
			out = append(out, q.DeepCopy())
		}
	}
	return out, nil
}

// check decides req against q. It returns what req adds to q (nil: q is not concerned) and q's
// new usage. A refusal first re-measures the usage, in case it drifted upwards.
func (p *Plugin) check(ctx context.Context, a *admission.Attributes, req *request, q *corev1.ResourceQuota) (added, next corev1.ResourceList, err error) {
	if !quotausage.InScope(q, req.obj) {
		return nil, nil, nil
	}
	hard := q.Status.Hard
	if hard == nil || !apiequality.Semantic.DeepEqual(hard, q.Spec.Hard) {
		hard = q.Spec.Hard
	}
	var tracked []corev1.ResourceName
	for n := range hard {
		if quotausage.Tracks(req.gr, n) {
			tracked = append(tracked, n)
		}
	}
	if len(tracked) == 0 {
		return nil, nil, nil
	}
	sort.Slice(tracked, func(i, j int) bool { return tracked[i] < tracked[j] })
	added = corev1.ResourceList{}
	grows := false
	for _, n := range tracked {
		if v, ok := req.delta[n]; ok && !v.IsZero() {
			added[n] = v
			grows = grows || v.Sign() > 0
		}
	}
	if pod, ok := req.obj.(*corev1.Pod); ok && (req.create || grows) {
		// Only a write that takes more must state what it takes: a pod admitted before the quota
		// existed may still finish or go away.
		if err := podConstraints(tracked, pod); err != nil {
			return nil, nil, admission.NewForbidden(a, fmt.Errorf("failed quota: %s: %v", q.Name, err))
		}
	}
	if len(added) == 0 {
		return nil, nil, nil
	}
	used := q.Status.Used
	if q.Status.Hard == nil {
		// Never measured (stored before this plugin ran): measure now.
		if used, err = p.measure(ctx, a.Namespace, q); err != nil {
			return nil, nil, err
		}
	}
	next, exceeded := apply(used, added, hard)
	if len(exceeded) > 0 && q.Status.Hard != nil {
		fresh, err := p.measure(ctx, a.Namespace, q)
		if err != nil {
			return nil, nil, err
		}
		used = fresh
		next, exceeded = apply(used, added, hard)
	}
	if len(exceeded) > 0 {
		return nil, nil, admission.NewForbidden(a, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
			q.Name, pretty(added, exceeded), pretty(used, exceeded), pretty(hard, exceeded)))
	}
	q.Status.Hard = hard.DeepCopy()
	return added, next, nil
}

// apply adds added to used; exceeded names the resources that grow past hard. Releases never
// exceed, even under a limit lowered below current usage.
func apply(used, added, hard corev1.ResourceList) (corev1.ResourceList, []corev1.ResourceName) {
	next := used.DeepCopy()
	if next == nil {
		next = corev1.ResourceList{}
	}
	var exceeded []corev1.ResourceName
	for n, v := range added {
		cur := next[n]
		cur.Add(v)
		if cur.Sign() < 0 {
			cur = resource.Quantity{}
		}
		next[n] = quotausage.Canonical(cur, hard[n])
		if v.Sign() > 0 && cur.Cmp(hard[n]) > 0 {
			exceeded = append(exceeded, n)
		}
	}
	sort.Slice(exceeded, func(i, j int) bool { return exceeded[i] < exceeded[j] })
	return next, exceeded
}

// pretty prints the names of rl as upstream does: name=value, sorted, comma-separated.
func pretty(rl corev1.ResourceList, names []corev1.ResourceName) string {
	var parts []string
	for _, n := range names {
		v := rl[n]
		parts = append(parts, fmt.Sprintf("%s=%s", n, v.String()))
	}
	return strings.Join(parts, ",")
}

// rollback takes back what a refused or failed request had already charged.
func (p *Plugin) rollback(ctx context.Context, namespace string, charged map[string]corev1.ResourceList) {
	for name, added := range charged {
		for attempt := 0; attempt < maxAttempts; attempt++ {
			obj, err := admission.GetLive(ctx, p.lookup, quotasGVR, namespace, name)
			if err != nil {
				break
			}
			q := obj.(*corev1.ResourceQuota).DeepCopy()
			neg := corev1.ResourceList{}
			for n, v := range added {
				v = v.DeepCopy()
				v.Neg()
				neg[n] = v
			}
			q.Status.Used, _ = apply(q.Status.Used, neg, q.Status.Hard)
			if _, err := p.lookup.Update(ctx, quotasGVR, q, "status"); !apierrors.IsConflict(err) {
				break
			}
		}
	}
}

// computeNames are the pod resources every container must state once a quota limits them
// (upstream's long-standing rule, from before QoS classes).
var computeNames = sets.New[corev1.ResourceName](corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory)

func podConstraints(tracked []corev1.ResourceName, pod *corev1.Pod) error {
	required := sets.New(tracked...).Intersection(computeNames)
	if required.Len() == 0 {
		return nil
	}
	missing := map[corev1.ResourceName]sets.Set[string]{}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			for n := range required {
				list := c.Resources.Requests
				base := n
				if s, ok := strings.CutPrefix(string(n), "limits."); ok {
					list, base = c.Resources.Limits, corev1.ResourceName(s)
				} else if s, ok := strings.CutPrefix(string(n), "requests."); ok {
					base = corev1.ResourceName(s)
				}
				if _, ok := list[base]; !ok {
					if missing[n] == nil {
						missing[n] = sets.New[string]()
					}
					missing[n].Insert(c.Name)
				}
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, string(n))
	}
	sort.Strings(names)
	var msgs []string
	for _, n := range names {
		msgs = append(msgs, fmt.Sprintf("%s for: %s", n, strings.Join(sets.List(missing[corev1.ResourceName(n)]), ",")))
	}
	return fmt.Errorf("must specify %s", strings.Join(msgs, "; "))
}
