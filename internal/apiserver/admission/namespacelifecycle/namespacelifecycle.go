package namespacelifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

var namespacesGVR = corev1.SchemeGroupVersion.WithResource("namespaces")

// Immortal are the namespaces that can never be deleted: the cluster's own components live there.
var Immortal = map[string]bool{
	metav1.NamespaceDefault: true, metav1.NamespaceSystem: true, metav1.NamespacePublic: true, corev1.NamespaceNodeLease: true,
}

// Plugin is the NamespaceLifecycle plugin. It runs among the mutators, first, so that nothing is
// defaulted against a namespace that is not there.
type Plugin struct {
	lookup admission.Lookup
	// deleting remembers namespaces whose deletion was admitted lately: until the cache shows
	// them Terminating, creates into them are checked against storage.
	deleting *admission.Recent
}

// liveLookupWindow is how long after a namespace's deletion creates into it read storage.
const liveLookupWindow = 30 * time.Second

// New returns the plugin.
func New(l admission.Lookup) *Plugin {
	return &Plugin{lookup: l, deleting: admission.NewRecent(liveLookupWindow)}
}

// Admit refuses what the namespace's lifecycle forbids.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Resource.GroupResource() == namespacesGVR.GroupResource() {
		if a.Operation == admission.Delete && a.Subresource == "" && Immortal[a.Name] {
			return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, fmt.Errorf("this namespace may not be deleted"))
		}
		if a.Operation == admission.Delete && !a.DryRun {
			p.deleting.Mark(a.Name)
		}
		return nil
	}
	if a.Namespace == "" || a.Operation == admission.Delete || a.Operation == admission.Connect {
		// Deletes always proceed: emptying a terminating namespace is how it goes away.
		return nil
	}
	ns, err := p.namespace(ctx, a.Namespace)
	if err != nil {
		return err
	}
	if a.Operation != admission.Create || ns.Status.Phase != corev1.NamespaceTerminating {
		return nil
	}
	// Events too: nothing may be added to a namespace that is being emptied, or it never empties.
	refusal := admission.NewForbidden(a, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", a.Namespace))
	if se, ok := refusal.(*apierrors.StatusError); ok && se.ErrStatus.Details != nil {
		se.ErrStatus.Details.Causes = append(se.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", a.Namespace),
			Field:   "metadata.namespace",
		})
	}
	return refusal
}

// namespace reads the namespace from the cache, and on a miss from storage: a namespace created
// a moment ago may not have reached the cache yet.
func (p *Plugin) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	obj, err := p.lookup.Get(ctx, namespacesGVR, "", name)
	if err == nil && p.deleting.Has(name) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.Status.Phase != corev1.NamespaceTerminating {
			obj, err = admission.GetLive(ctx, p.lookup, namespacesGVR, "", name)
		}
	}
	if apierrors.IsNotFound(err) {
		obj, err = admission.GetLive(ctx, p.lookup, namespacesGVR, "", name)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, name)
		}
		return nil, apierrors.NewInternalError(fmt.Errorf("looking up namespace %s: %w", name, err))
	}
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("namespace %s: unexpected %T", name, obj))
	}
	return ns, nil
}
