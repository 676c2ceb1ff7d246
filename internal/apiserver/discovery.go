package apiserver

import (
	"mime"
	"net"
	"net/http"
	"sort"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// groupOrder is the priority of API groups in discovery, as upstream orders them: clients that
// resolve an ambiguous resource name pick the earlier group.
var groupOrder = []string{
	"", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch",
	"certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "storage.k8s.io",
	"admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io", "coordination.k8s.io",
	"node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io",
}

type groupInfo struct {
	name      string
	versions  []string // preferred first
	resources map[string][]*registry.Resource
}

func buildGroups(resources []*registry.Resource) []groupInfo {
	byName := map[string]*groupInfo{}
	for _, r := range resources {
		g := byName[r.Group]
		if g == nil {
			g = &groupInfo{name: r.Group, resources: map[string][]*registry.Resource{}}
			byName[r.Group] = g
		}
		if _, ok := g.resources[r.Version]; !ok {
			g.versions = append(g.versions, r.Version)
		}
		g.resources[r.Version] = append(g.resources[r.Version], r)
	}
	rank := func(name string) int {
		for i, n := range groupOrder {
			if n == name {
				return i
			}
		}
		return len(groupOrder)
	}
	var out []groupInfo
	for _, g := range byName {
		sort.Slice(g.versions, func(i, j int) bool {
			return version.CompareKubeAwareVersionStrings(g.versions[i], g.versions[j]) > 0
		})
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := rank(out[i].name), rank(out[j].name)
		if ri != rj {
			return ri < rj
		}
		return out[i].name < out[j].name
	})
	return out
}

func (s *Server) group(name string) *groupInfo {
	for i := range s.groups {
		if s.groups[i].name == name {
			return &s.groups[i]
		}
	}
	return nil
}

var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

func verbsOf(r *registry.Resource) []string {
	if len(r.Verbs) > 0 {
		v := append([]string{}, r.Verbs...)
		sort.Strings(v)
		return v
	}
	return allVerbs
}

// subresources lists a resource's subresources with their kinds and verbs.
func subresources(r *registry.Resource) []metav1.APIResource {
	var out []metav1.APIResource
	if r.Status {
		out = append(out, metav1.APIResource{Name: r.Resource + "/status", Namespaced: r.Namespaced, Kind: r.Kind, Verbs: []string{"get", "patch", "update"}})
	}
	if r.Scale != nil {
		out = append(out, metav1.APIResource{Name: r.Resource + "/scale", Namespaced: r.Namespaced, Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: []string{"get", "patch", "update"}})
	}
	switch r.GroupResource() {
	case schema.GroupResource{Resource: "pods"}:
		out = append(out,
			metav1.APIResource{Name: "pods/attach", Namespaced: true, Kind: "PodAttachOptions", Verbs: []string{"create", "get"}},
			metav1.APIResource{Name: "pods/binding", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
			metav1.APIResource{Name: "pods/eviction", Namespaced: true, Group: "policy", Version: "v1", Kind: "Eviction", Verbs: []string{"create"}},
			metav1.APIResource{Name: "pods/exec", Namespaced: true, Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
			metav1.APIResource{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: []string{"get"}},
			metav1.APIResource{Name: "pods/portforward", Namespaced: true, Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}})
	case schema.GroupResource{Resource: "namespaces"}:
		out = append(out, metav1.APIResource{Name: "namespaces/finalize", Kind: "Namespace", Verbs: []string{"update"}})
	}
	return out
}

func resourceList(gv string, resources []*registry.Resource) *metav1.APIResourceList {
	list := &metav1.APIResourceList{GroupVersion: gv}
	list.Kind, list.APIVersion = "APIResourceList", "v1"
	for _, r := range resources {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.Resource, SingularName: r.SingularName, Namespaced: r.Namespaced, Kind: r.Kind,
			Verbs: verbsOf(r), ShortNames: r.ShortNames, Categories: r.Categories,
		})
		list.APIResources = append(list.APIResources, subresources(r)...)
	}
	return list
}

func groupVersions(g *groupInfo) (versions []metav1.GroupVersionForDiscovery) {
	for _, v := range g.versions {
		versions = append(versions, metav1.GroupVersionForDiscovery{GroupVersion: schema.GroupVersion{Group: g.name, Version: v}.String(), Version: v})
	}
	return versions
}

func wantsAggregated(r *http.Request) (string, bool) {
	for _, clause := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		if params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" && mt == mediaJSON {
			return mt, true
		}
		if params["g"] == "" && (mt == mediaJSON || mt == "*/*" || mt == "application/*") {
			return "", false
		}
	}
	return "", false
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, info *requestInfo) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/api":
		if _, ok := wantsAggregated(r); ok {
			s.writeAggregated(w, true)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			host = net.JoinHostPort(h, portOf(s.Addr()))
		}
		v := &metav1.APIVersions{Versions: []string{"v1"}, ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: host}}}
		v.Kind = "APIVersions"
		s.writeJSON(w, http.StatusOK, v)
	case path == "/apis":
		if _, ok := wantsAggregated(r); ok {
			s.writeAggregated(w, false)
			return
		}
		list := &metav1.APIGroupList{}
		list.Kind, list.APIVersion = "APIGroupList", "v1"
		for i := range s.groups {
			g := &s.groups[i]
			if g.name == "" {
				continue
			}
			vs := groupVersions(g)
			list.Groups = append(list.Groups, metav1.APIGroup{Name: g.name, Versions: vs, PreferredVersion: vs[0]})
		}
		s.writeJSON(w, http.StatusOK, list)
	case info.APIPrefix == "api" && info.Version == "v1" && info.Group == "":
		s.writeJSON(w, http.StatusOK, resourceList("v1", s.group("").resources["v1"]))
	case info.APIPrefix == "apis" && info.Version != "":
		g := s.group(info.Group)
		if g == nil || g.resources[info.Version] == nil {
			s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""))
			return
		}
		s.writeJSON(w, http.StatusOK, resourceList(info.Group+"/"+info.Version, g.resources[info.Version]))
	case info.APIPrefix == "apis":
		name := strings.TrimPrefix(path, "/apis/")
		g := s.group(name)
		if g == nil || name == "" {
			s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""))
			return
		}
		vs := groupVersions(g)
		grp := &metav1.APIGroup{Name: g.name, Versions: vs, PreferredVersion: vs[0]}
		grp.Kind, grp.APIVersion = "APIGroup", "v1"
		s.writeJSON(w, http.StatusOK, grp)
	default:
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""))
	}
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "443"
	}
	return p
}

// writeAggregated serves aggregated discovery (apidiscovery.k8s.io/v2): every group, version and
// resource in one document, which is what current kubectl and client-go ask for first.
func (s *Server) writeAggregated(w http.ResponseWriter, legacy bool) {
	list := &apidiscoveryv2.APIGroupDiscoveryList{}
	list.Kind, list.APIVersion = "APIGroupDiscoveryList", "apidiscovery.k8s.io/v2"
	for i := range s.groups {
		g := &s.groups[i]
		if (g.name == "") != legacy {
			continue
		}
		gd := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.name}}
		for _, v := range g.versions {
			vd := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
			for _, r := range g.resources[v] {
				scope := apidiscoveryv2.ScopeCluster
				if r.Namespaced {
					scope = apidiscoveryv2.ScopeNamespace
				}
				rd := apidiscoveryv2.APIResourceDiscovery{
					Resource: r.Resource, ResponseKind: &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind},
					Scope: scope, SingularResource: r.SingularName, Verbs: verbsOf(r), ShortNames: r.ShortNames, Categories: r.Categories,
				}
				for _, sub := range subresources(r) {
					kind := &metav1.GroupVersionKind{Group: sub.Group, Version: sub.Version, Kind: sub.Kind}
					if sub.Group == "" && sub.Version == "" {
						kind.Group, kind.Version = r.Group, r.Version
					}
					rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{
						Subresource: strings.SplitN(sub.Name, "/", 2)[1], ResponseKind: kind, Verbs: sub.Verbs,
					})
				}
				vd.Resources = append(vd.Resources, rd)
			}
			gd.Versions = append(gd.Versions, vd)
		}
		list.Items = append(list.Items, gd)
	}
	w.Header().Set("Vary", "Accept")
	b, err := jsonMarshal(list)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
