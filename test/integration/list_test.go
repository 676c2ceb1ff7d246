package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func names[T any](items []T, name func(*T) string) []string {
	out := make([]string, 0, len(items))
	for i := range items {
		out = append(out, name(&items[i]))
	}
	return out
}

func cmNames(l *corev1.ConfigMapList) []string {
	return names(l.Items, func(c *corev1.ConfigMap) string { return c.Name })
}

func TestListSelectors(t *testing.T) {
	e := newEnv(t)
	cms := e.cs.CoreV1().ConfigMaps(e.ns)
	for name, labels := range map[string]map[string]string{
		"a": {"tier": "web", "env": "prod"},
		"b": {"tier": "db", "env": "prod"},
		"c": {"tier": "web", "env": "dev"},
		"d": {"other": "x"},
	} {
		_, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
		must(t, err)
	}
	labelCases := []struct{ sel, want string }{
		{"tier=web", "a,c"},
		{"tier==web,env=prod", "a"},
		{"tier!=web", "b,d"},
		{"tier in (db,web)", "a,b,c"},
		{"env notin (prod)", "c,d"},
		{"tier", "a,b,c"},
		{"!tier", "d"},
		{"", "a,b,c,d"},
	}
	for _, c := range labelCases {
		l, err := cms.List(e.ctx, metav1.ListOptions{LabelSelector: c.sel})
		must(t, err)
		if got := strings.Join(cmNames(l), ","); got != c.want {
			t.Errorf("labelSelector %q: got %s, want %s", c.sel, got, c.want)
		}
	}
	l, err := cms.List(e.ctx, metav1.ListOptions{FieldSelector: "metadata.name!=a", LabelSelector: "tier"})
	must(t, err)
	if got := strings.Join(cmNames(l), ","); got != "b,c" {
		t.Errorf("metadata.name!=a,tier: %s", got)
	}
	_, err = cms.List(e.ctx, metav1.ListOptions{LabelSelector: "a in (("})
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)

	// Field selectors the resources define.
	pods := e.cs.CoreV1().Pods(e.ns)
	for _, p := range []struct{ name, node string }{{"p1", "n1"}, {"p2", "n2"}, {"p3", ""}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name}, Spec: *podSpec.DeepCopy()}
		pod.Spec.NodeName = p.node
		_, err := pods.Create(e.ctx, pod, metav1.CreateOptions{})
		must(t, err)
	}
	p2, err := pods.Get(e.ctx, "p2", metav1.GetOptions{})
	must(t, err)
	p2.Status.Phase = corev1.PodRunning
	_, err = pods.UpdateStatus(e.ctx, p2, metav1.UpdateOptions{})
	must(t, err)
	podNames := func(sel string) string {
		t.Helper()
		l, err := pods.List(e.ctx, metav1.ListOptions{FieldSelector: sel})
		must(t, err)
		return strings.Join(names(l.Items, func(p *corev1.Pod) string { return p.Name }), ",")
	}
	for sel, want := range map[string]string{
		"spec.nodeName=n1":                       "p1",
		"spec.nodeName=":                         "p3",
		"spec.nodeName!=":                        "p1,p2",
		"status.phase=Running":                   "p2",
		"status.phase=Pending":                   "p1,p3",
		"status.phase!=Running,spec.nodeName=n1": "p1",
		"metadata.namespace=" + e.ns:             "p1,p2,p3",
	} {
		if got := podNames(sel); got != want {
			t.Errorf("pods fieldSelector %q: %s, want %s", sel, got, want)
		}
	}

	secrets := e.cs.CoreV1().Secrets(e.ns)
	_, err = secrets.Create(e.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s1"}, Type: corev1.SecretTypeOpaque}, metav1.CreateOptions{})
	must(t, err)
	_, err = secrets.Create(e.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s2"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)}}, metav1.CreateOptions{})
	must(t, err)
	sl, err := secrets.List(e.ctx, metav1.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeDockerConfigJson)})
	must(t, err)
	if len(sl.Items) != 1 || sl.Items[0].Name != "s2" {
		t.Errorf("secrets by type: %v", names(sl.Items, func(s *corev1.Secret) string { return s.Name }))
	}

	evs := e.cs.CoreV1().Events(e.ns)
	for _, obj := range []string{"p1", "p2"} {
		_, err := evs.Create(e.ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "ev-" + obj},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: obj, Namespace: e.ns}, Reason: "R", Message: "m",
			Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "t"}}, metav1.CreateOptions{})
		must(t, err)
	}
	el, err := evs.List(e.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=p2,involvedObject.kind=Pod"})
	must(t, err)
	if len(el.Items) != 1 || el.Items[0].Name != "ev-p2" {
		t.Errorf("events by involvedObject.name: %d items", len(el.Items))
	}

	_, err = cms.List(e.ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
	st := wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
	if !strings.Contains(st.Message, `field label not supported: spec.nodeName`) {
		t.Errorf("unsupported field message %q", st.Message)
	}
	_, err = pods.Watch(e.ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"})
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
}

// createConfigMaps makes n configmaps named prefix-00000.. in ns, in parallel.
func createConfigMaps(t *testing.T, e *env, ns, prefix string, n int) []string {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				_, err := e.cs.CoreV1().ConfigMaps(ns).Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
					Name: fmt.Sprintf("%s-%05d", prefix, i), Labels: map[string]string{"parity": fmt.Sprint(i % 2)}}}, metav1.CreateOptions{})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s-%05d", prefix, i))
	}
	return out
}

func TestListPaginationAndResourceVersions(t *testing.T) {
	e := newEnv(t)
	const n = 1200
	want := createConfigMaps(t, e, e.ns, "page", n)
	cms := e.cs.CoreV1().ConfigMaps(e.ns)
	// kube-root-ca.crt or other defaults may exist: compare against a full list.
	full, err := cms.List(e.ctx, metav1.ListOptions{})
	must(t, err)
	all := cmNames(full)
	if !sort.StringsAreSorted(all) {
		t.Fatal("a full list is not in name order")
	}
	for _, w := range want {
		if sort.SearchStrings(all, w) == len(all) {
			t.Fatalf("%s missing from the full list", w)
		}
	}

	t.Run("limit and continue", func(t *testing.T) {
		var seen []string
		opts := metav1.ListOptions{Limit: 100}
		pages := 0
		var listRV string
		for {
			l, err := cms.List(e.ctx, opts)
			must(t, err)
			pages++
			if listRV == "" {
				listRV = l.ResourceVersion
			} else if l.ResourceVersion != listRV {
				t.Fatalf("page %d at resourceVersion %s, first page at %s: pages must be one snapshot", pages, l.ResourceVersion, listRV)
			}
			seen = append(seen, cmNames(l)...)
			if l.Continue == "" {
				if l.RemainingItemCount != nil {
					t.Fatalf("last page has remainingItemCount %d", *l.RemainingItemCount)
				}
				break
			}
			if len(l.Items) != 100 {
				t.Fatalf("page %d has %d items, want 100", pages, len(l.Items))
			}
			if l.RemainingItemCount == nil || *l.RemainingItemCount != int64(len(all)-len(seen)) {
				t.Fatalf("page %d remainingItemCount %v, want %d", pages, l.RemainingItemCount, len(all)-len(seen))
			}
			if pages == 1 {
				// Writes after the first page do not show up in later pages.
				_, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "page-99999"}}, metav1.CreateOptions{})
				must(t, err)
			}
			opts.Continue = l.Continue
		}
		if strings.Join(seen, ",") != strings.Join(all, ",") {
			t.Fatalf("paging saw %d items, a full list %d (or in another order)", len(seen), len(all))
		}
		// A continue token with a resourceVersion is refused.
		l, err := cms.List(e.ctx, metav1.ListOptions{Limit: 10})
		must(t, err)
		_, err = cms.List(e.ctx, metav1.ListOptions{Limit: 10, Continue: l.Continue, ResourceVersion: l.ResourceVersion})
		wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
		_, err = cms.List(e.ctx, metav1.ListOptions{Limit: 10, Continue: "garbage!"})
		wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
		// With a label selector pages may be short but nothing is lost.
		var odd []string
		opts = metav1.ListOptions{Limit: 70, LabelSelector: "parity=1"}
		for {
			l, err := cms.List(e.ctx, opts)
			must(t, err)
			odd = append(odd, cmNames(l)...)
			if l.Continue == "" {
				break
			}
			opts.Continue = l.Continue
		}
		if len(odd) != n/2 {
			t.Fatalf("selector paging saw %d, want %d", len(odd), n/2)
		}
	})

	t.Run("resourceVersion semantics", func(t *testing.T) {
		before, err := cms.List(e.ctx, metav1.ListOptions{Limit: 1})
		must(t, err)
		beforeRV := before.ResourceVersion
		created, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "rv-late"}}, metav1.CreateOptions{})
		must(t, err)
		has := func(l *corev1.ConfigMapList) bool {
			for _, c := range l.Items {
				if c.Name == "rv-late" {
					return true
				}
			}
			return false
		}
		// "": the newest state, consistent.
		l, err := cms.List(e.ctx, metav1.ListOptions{})
		must(t, err)
		if !has(l) || rvOf(t, l.ResourceVersion) < rvOf(t, created.ResourceVersion) {
			t.Fatalf(`rv="": missing a write that completed before (list rv %s, write rv %s)`, l.ResourceVersion, created.ResourceVersion)
		}
		// "0": any state; the response still names its version.
		l, err = cms.List(e.ctx, metav1.ListOptions{ResourceVersion: "0"})
		must(t, err)
		if l.ResourceVersion == "" || len(l.Items) < n {
			t.Fatalf(`rv="0": rv %q, %d items`, l.ResourceVersion, len(l.Items))
		}
		// Exact: the state at that revision, without the later object.
		l, err = cms.List(e.ctx, metav1.ListOptions{ResourceVersion: beforeRV, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		must(t, err)
		if has(l) || l.ResourceVersion != beforeRV {
			t.Fatalf("Exact %s: has the later object %v, list rv %s", beforeRV, has(l), l.ResourceVersion)
		}
		// Exact with a limit pages through the old state too.
		l, err = cms.List(e.ctx, metav1.ListOptions{ResourceVersion: beforeRV, ResourceVersionMatch: metav1.ResourceVersionMatchExact, Limit: 5})
		must(t, err)
		if len(l.Items) != 5 || l.Continue == "" || l.ResourceVersion != beforeRV {
			t.Fatalf("Exact+limit: %d items, continue %q, rv %s", len(l.Items), l.Continue, l.ResourceVersion)
		}
		// NotOlderThan: at least that new.
		l, err = cms.List(e.ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		must(t, err)
		if !has(l) || rvOf(t, l.ResourceVersion) < rvOf(t, created.ResourceVersion) {
			t.Fatalf("NotOlderThan %s: rv %s has %v", created.ResourceVersion, l.ResourceVersion, has(l))
		}
		// Get at a resourceVersion not older than the write sees it.
		g, err := cms.Get(e.ctx, "rv-late", metav1.GetOptions{ResourceVersion: created.ResourceVersion})
		must(t, err)
		if g.UID != created.UID {
			t.Fatal("get with resourceVersion returned another object")
		}
		// resourceVersionMatch needs a resourceVersion, and Exact a non-zero one (422 on ListOptions).
		_, err = cms.List(e.ctx, metav1.ListOptions{ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		st := wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeForbidden, "resourceVersionMatch")
		_, err = cms.List(e.ctx, metav1.ListOptions{ResourceVersion: "0", ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		_, err = cms.List(e.ctx, metav1.ListOptions{ResourceVersion: "1", ResourceVersionMatch: "Sometime"})
		st = wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeFieldValueNotSupported, "resourceVersionMatch")
		// A resourceVersion that is not a number is the client's mistake, not the server's.
		_, err = cms.List(e.ctx, metav1.ListOptions{ResourceVersion: "abc"})
		wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
		_, err = cms.Get(e.ctx, "rv-late", metav1.GetOptions{ResourceVersion: "abc"})
		wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
	})
}

// TestContinueExpiresAfterCompaction compacts etcd past a continue token's revision: the next page
// is 410 Expired, as upstream answers. The compaction touches only history older than the newest
// revision, which no other test of the shared server asks for.
func TestContinueExpiresAfterCompaction(t *testing.T) {
	e := newEnv(t)
	if e.srv.Etcd == nil {
		t.Skip("the test server does not expose its etcd client")
	}
	createConfigMaps(t, e, e.ns, "exp", 5)
	cms := e.cs.CoreV1().ConfigMaps(e.ns)
	l, err := cms.List(e.ctx, metav1.ListOptions{Limit: 2})
	must(t, err)
	if l.Continue == "" {
		t.Fatal("no continue token")
	}
	// Move past the token's revision, then compact up to now.
	_, err = cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "exp-later"}}, metav1.CreateOptions{})
	must(t, err)
	resp, err := e.srv.Etcd.Get(context.Background(), "/registry/", clientv3.WithCountOnly())
	must(t, err)
	_, err = e.srv.Etcd.Compact(context.Background(), resp.Header.Revision, clientv3.WithCompactPhysical())
	must(t, err)
	_, err = cms.List(e.ctx, metav1.ListOptions{Limit: 2, Continue: l.Continue})
	st := wantStatus(t, err, 410, metav1.StatusReasonExpired)
	if !strings.Contains(st.Message, "continue") {
		t.Fatalf("expired message %q", st.Message)
	}
	// The status carries a fresh continue token? Upstream offers one in metadata.continue only for
	// inconsistent continuation; a new list must work.
	_, err = cms.List(e.ctx, metav1.ListOptions{Limit: 2})
	must(t, err)
}
