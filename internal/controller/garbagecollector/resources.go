package garbagecollector

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// DefaultIgnored are the resources the collector does not follow, as upstream: events are many,
// short-lived and never own anything.
var DefaultIgnored = []schema.GroupResource{{Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}}

// catalog is what discovery says: every kind in every served version (owner references may name
// any version), and the preferred version of each resource worth watching.
type catalog struct {
	kinds     map[schema.GroupVersionKind]resource
	monitored []resource
}

// lookup resolves an owner reference's apiVersion and kind.
func (c *catalog) lookup(apiVersion, kind string) (resource, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return resource{}, fmt.Errorf("owner reference apiVersion %q: %w", apiVersion, err)
	}
	r, ok := c.kinds[gv.WithKind(kind)]
	if !ok {
		return resource{}, fmt.Errorf("no resource serves kind %s in %s", kind, apiVersion)
	}
	return r, nil
}

// discover reads the catalog. A partial answer (some groups failing) is returned together with
// the error, so what is known is still followed.
func discover(d discovery.DiscoveryInterface, ignored []schema.GroupResource) (*catalog, error) {
	c := &catalog{kinds: map[schema.GroupVersionKind]resource{}}
	_, all, allErr := d.ServerGroupsAndResources()
	if allErr != nil && !discovery.IsGroupDiscoveryFailedError(allErr) {
		return nil, fmt.Errorf("discovery: %w", allErr)
	}
	for _, list := range all {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			gvk := gv.WithKind(r.Kind)
			if _, dup := c.kinds[gvk]; !dup {
				c.kinds[gvk] = resource{GVR: gv.WithResource(r.Name), Kind: r.Kind, Namespaced: r.Namespaced}
			}
		}
	}
	preferred, prefErr := d.ServerPreferredResources()
	if prefErr != nil && !discovery.IsGroupDiscoveryFailedError(prefErr) {
		return nil, fmt.Errorf("discovery: %w", prefErr)
	}
	c.monitored = monitorable(preferred, ignored)
	return c, errors.Join(allErr, prefErr)
}

// monitorable picks the resources the graph is built from: those that can be listed, watched and
// deleted, minus the ignored ones.
func monitorable(lists []*metav1.APIResourceList, ignored []schema.GroupResource) []resource {
	var out []resource
	seen := map[schema.GroupResource]bool{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			if strings.Contains(r.Name, "/") || seen[gr] || slices.Contains(ignored, gr) {
				continue
			}
			if !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			seen[gr] = true
			out = append(out, resource{GVR: gv.WithResource(r.Name), Kind: r.Kind, Namespaced: r.Namespaced})
		}
	}
	return out
}
