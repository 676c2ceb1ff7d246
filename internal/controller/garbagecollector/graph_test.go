package garbagecollector

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var cmRes = resource{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Kind: "ConfigMap", Namespaced: true}

func ref(uid string, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "n-" + uid, UID: types.UID(uid), BlockOwnerDeletion: &block}
}

func obj(uid string, owners ...metav1.OwnerReference) meta {
	return objIn("ns", uid, owners...)
}

func objIn(ns, uid string, owners ...metav1.OwnerReference) meta {
	return meta{Namespace: ns, Name: "n-" + uid, UID: types.UID(uid), ResourceVersion: "1", Owners: owners}
}

func deleting(m meta, finalizers ...string) meta {
	m.Deleting, m.Finalizers = true, finalizers
	return m
}

func uids(s ...string) []types.UID {
	out := make([]types.UID, len(s))
	for i, x := range s {
		out[i] = types.UID(x)
	}
	return out
}

func sorted(u []types.UID) []types.UID {
	u = slices.Clone(u)
	slices.Sort(u)
	return slices.Compact(u)
}

func TestGraphApply(t *testing.T) {
	type step struct {
		c          change
		wantDelete []types.UID
		wantOrphan []types.UID
	}
	up := func(m meta) change { return change{res: cmRes, meta: m} }
	del := func(m meta) change { return change{res: cmRes, meta: m, deleted: true} }
	cases := []struct {
		name  string
		steps []step
		// after the steps: node -> its dependents, and which nodes are virtual
		wantDeps    map[string][]string
		wantVirtual []string
		wantAbsent  []string
	}{
		{
			name: "dependent seen before its owner is judged; the owner's arrival asks nothing",
			steps: []step{
				{c: up(obj("d", ref("o", false))), wantDelete: uids("d")},
				{c: up(obj("o"))},
			},
			wantDeps: map[string][]string{"o": {"d"}},
		},
		{
			name: "owner first: a dependent of a live owner needs no look",
			steps: []step{
				{c: up(obj("o"))},
				{c: up(obj("d", ref("o", false)))},
			},
			wantDeps: map[string][]string{"o": {"d"}},
		},
		{
			name: "owner deleted: it stays virtual while dependents name it, each dependent is judged",
			steps: []step{
				{c: up(obj("o"))},
				{c: up(obj("d1", ref("o", false)))},
				{c: up(obj("d2", ref("o", false)))},
				{c: del(obj("o")), wantDelete: uids("d1", "d2")},
			},
			wantDeps:    map[string][]string{"o": {"d1", "d2"}},
			wantVirtual: []string{"o"},
		},
		{
			name: "virtual owner disappears with its last dependent",
			steps: []step{
				{c: up(obj("d", ref("o", false))), wantDelete: uids("d")},
				{c: del(obj("d", ref("o", false)))},
			},
			wantAbsent: []string{"o", "d"},
		},
		{
			name: "foreground: the owner and all its dependents are judged on the transition",
			steps: []step{
				{c: up(obj("o"))},
				{c: up(obj("d1", ref("o", true)))},
				{c: up(obj("d2", ref("o", false)))},
				{c: up(deleting(obj("o"), metav1.FinalizerDeleteDependents)), wantDelete: uids("o", "d1", "d2")},
			},
			wantDeps: map[string][]string{"o": {"d1", "d2"}},
		},
		{
			name: "foreground: a departing dependent brings its owner back",
			steps: []step{
				{c: up(obj("o"))},
				{c: up(obj("d", ref("o", true)))},
				{c: up(deleting(obj("o"), metav1.FinalizerDeleteDependents)), wantDelete: uids("o", "d")},
				{c: del(obj("d", ref("o", true))), wantDelete: uids("o")},
			},
			wantDeps: map[string][]string{"o": nil},
		},
		{
			name: "foreground: a reference that stops blocking brings its owner back",
			steps: []step{
				{c: up(obj("o"))},
				{c: up(obj("d", ref("o", true)))},
				{c: up(deleting(obj("o"), metav1.FinalizerDeleteDependents)), wantDelete: uids("o", "d")},
				{c: up(obj("d", ref("o", false))), wantDelete: uids("o")},
			},
			wantDeps: map[string][]string{"o": {"d"}},
		},
		{
			name: "foreground: a dropped reference brings its owner back",
			steps: []step{
				{c: up(obj("o"))},
				{c: up(obj("d", ref("o", true)))},
				{c: up(deleting(obj("o"), metav1.FinalizerDeleteDependents)), wantDelete: uids("o", "d")},
				{c: up(obj("d")), wantDelete: uids("o")},
			},
			wantDeps: map[string][]string{"o": nil},
		},
		{
			name: "an owner seen in another namespace does not resolve: the dependent is judged",
			steps: []step{
				{c: up(objIn("a", "o"))},
				{c: up(objIn("b", "d", ref("o", false))), wantDelete: uids("d")},
			},
			wantDeps: map[string][]string{"o": {"d"}},
		},
		{
			name: "a reference whose kind does not match is judged",
			steps: []step{
				{c: up(obj("o"))},
				{c: up(obj("d", func() metav1.OwnerReference { r := ref("o", false); r.Kind = "Secret"; return r }())), wantDelete: uids("d")},
			},
			wantDeps: map[string][]string{"o": {"d"}},
		},
		{
			name: "orphan finalizer queues the owner for orphaning",
			steps: []step{
				{c: up(obj("o"))},
				{c: up(obj("d", ref("o", false)))},
				{c: up(deleting(obj("o"), metav1.FinalizerOrphanDependents)), wantOrphan: uids("o")},
			},
			wantDeps: map[string][]string{"o": {"d"}},
		},
		{
			name: "a dependent gaining an owner that is deleting is judged",
			steps: []step{
				{c: up(deleting(obj("o"), metav1.FinalizerDeleteDependents)), wantDelete: uids("o")},
				{c: up(obj("d", ref("o", true))), wantDelete: uids("d")},
			},
			wantDeps: map[string][]string{"o": {"d"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGraph()
			for i, s := range tc.steps {
				w := g.apply(s.c)
				if got, want := sorted(w.attemptToDelete), sorted(s.wantDelete); !slices.Equal(got, want) {
					t.Errorf("step %d: attemptToDelete = %v, want %v", i, got, want)
				}
				if got, want := sorted(w.attemptToOrphan), sorted(s.wantOrphan); !slices.Equal(got, want) {
					t.Errorf("step %d: attemptToOrphan = %v, want %v", i, got, want)
				}
			}
			for owner, deps := range tc.wantDeps {
				v := g.view(types.UID(owner))
				if !v.found {
					t.Fatalf("node %s missing", owner)
				}
				var got []types.UID
				for _, d := range v.dependents {
					got = append(got, d.meta.UID)
				}
				if !slices.Equal(sorted(got), sorted(uids(deps...))) {
					t.Errorf("dependents of %s = %v, want %v", owner, got, deps)
				}
				if want := slices.Contains(tc.wantVirtual, owner); v.virtual != want {
					t.Errorf("%s virtual = %v, want %v", owner, v.virtual, want)
				}
			}
			for _, u := range tc.wantAbsent {
				if g.view(types.UID(u)).found {
					t.Errorf("node %s still in the graph", u)
				}
			}
		})
	}
}

func TestGraphBlockingView(t *testing.T) {
	g := newGraph()
	g.apply(change{res: cmRes, meta: obj("o")})
	g.apply(change{res: cmRes, meta: obj("a", ref("o", true))})
	g.apply(change{res: cmRes, meta: obj("b", ref("o", false))})
	g.apply(change{res: cmRes, meta: deleting(obj("c", ref("o", true)), metav1.FinalizerDeleteDependents)})
	v := g.view("o")
	got := map[types.UID][2]bool{}
	for _, d := range v.dependents {
		got[d.meta.UID] = [2]bool{d.blocking, d.deletingDependents}
	}
	want := map[types.UID][2]bool{"a": {true, false}, "b": {false, false}, "c": {true, true}}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("dependent %s: (blocking, deletingDependents) = %v, want %v", k, got[k], w)
		}
	}
}

func TestDecide(t *testing.T) {
	two := obj("d", ref("a", true), ref("b", false))
	cases := []struct {
		name        string
		m           meta
		states      map[types.UID]ownerState
		hasDeps     bool
		depDeleting bool
		want        verdict
	}{
		{"no owners", obj("d"), nil, false, false, verdict{action: keep}},
		{"all solid", two, map[types.UID]ownerState{"a": solid, "b": solid}, false, false, verdict{action: keep}},
		{"one solid one gone: drop the gone", two, map[types.UID]ownerState{"a": solid, "b": dangling}, false, false,
			verdict{action: dropOwners, drop: uids("b")}},
		{"one solid one waiting: drop the waiting", two, map[types.UID]ownerState{"a": waiting, "b": solid}, true, false,
			verdict{action: dropOwners, drop: uids("a")}},
		{"all gone: background", two, map[types.UID]ownerState{"a": dangling, "b": dangling}, true, false,
			verdict{action: deleteObject, policy: metav1.DeletePropagationBackground}},
		{"waiting owner, no dependents: background", two, map[types.UID]ownerState{"a": waiting, "b": dangling}, false, false,
			verdict{action: deleteObject, policy: metav1.DeletePropagationBackground}},
		{"waiting owner, dependents: foreground", two, map[types.UID]ownerState{"a": waiting, "b": dangling}, true, false,
			verdict{action: deleteObject, policy: metav1.DeletePropagationForeground}},
		{"waiting owner, a dependent deleting in foreground: unblock first", two, map[types.UID]ownerState{"a": waiting, "b": waiting}, true, true,
			verdict{action: deleteObject, policy: metav1.DeletePropagationForeground, unblock: uids("a", "b")}},
		{"gone owners, orphan finalizer kept", deleting(two, metav1.FinalizerOrphanDependents), map[types.UID]ownerState{"a": dangling, "b": dangling}, false, false,
			verdict{action: deleteObject, policy: metav1.DeletePropagationOrphan}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(tc.m, tc.states, tc.hasDeps, tc.depDeleting)
			if got.action != tc.want.action || got.policy != tc.want.policy ||
				!slices.Equal(sorted(got.drop), sorted(tc.want.drop)) || !slices.Equal(sorted(got.unblock), sorted(tc.want.unblock)) {
				t.Errorf("decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestListPatch(t *testing.T) {
	b, err := listPatch("u1", "finalizers", []string{"a", "b"}, []string{"a"}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"op":"test","path":"/metadata/uid","value":"u1"},{"op":"test","path":"/metadata/finalizers","value":["a","b"]},{"op":"replace","path":"/metadata/finalizers","value":["a"]}]`
	if string(b) != want {
		t.Errorf("patch = %s\nwant    %s", b, want)
	}
	b, _ = listPatch("u1", "finalizers", []string{"a"}, []string(nil), true)
	if want := `[{"op":"test","path":"/metadata/uid","value":"u1"},{"op":"test","path":"/metadata/finalizers","value":["a"]},{"op":"remove","path":"/metadata/finalizers"}]`; string(b) != want {
		t.Errorf("patch = %s\nwant    %s", b, want)
	}
}

func TestMonitorable(t *testing.T) {
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: []string{"list", "watch", "delete", "get"}},
			{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: []string{"get", "patch"}},
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: []string{"list", "watch", "delete"}},
			{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: []string{"create"}},
			{Name: "nodes", Kind: "Node", Verbs: []string{"list", "watch", "delete"}},
		}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: []string{"list", "watch", "delete"}}}},
	}
	var got []string
	for _, r := range monitorable(lists, DefaultIgnored) {
		got = append(got, r.GVR.String())
	}
	want := []string{"/v1, Resource=pods", "/v1, Resource=nodes"}
	if !slices.Equal(got, want) {
		t.Errorf("monitorable = %v, want %v", got, want)
	}
}
