package integration

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
)

// next reads one event from w or fails after a few seconds.
func next(t testing.TB, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return watch.Event{}
}

func evString(ev watch.Event) string {
	if ev.Type == watch.Error {
		return fmt.Sprintf("ERROR %v", ev.Object)
	}
	m, err := metaOf(ev.Object)
	if err != nil {
		return fmt.Sprintf("%s %T", ev.Type, ev.Object)
	}
	return fmt.Sprintf("%s %s@%s", ev.Type, m.GetName(), m.GetResourceVersion())
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	if m, ok := obj.(metav1.Object); ok {
		return m, nil
	}
	return nil, fmt.Errorf("%T has no metadata", obj)
}

func TestWatch(t *testing.T) {
	e := newEnv(t)
	cms := e.cs.CoreV1().ConfigMaps(e.ns)
	cm := func(name string, labels map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}

	t.Run("from a resourceVersion", func(t *testing.T) {
		a, err := cms.Create(e.ctx, cm("w-a", nil), metav1.CreateOptions{})
		must(t, err)
		b, err := cms.Create(e.ctx, cm("w-b", nil), metav1.CreateOptions{})
		must(t, err)
		b.Data = map[string]string{"x": "1"}
		b2, err := cms.Update(e.ctx, b, metav1.UpdateOptions{})
		must(t, err)
		must(t, cms.Delete(e.ctx, "w-a", metav1.DeleteOptions{}))
		w, err := cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: a.ResourceVersion})
		must(t, err)
		defer w.Stop()
		want := []string{
			"ADDED w-b@" + b.ResourceVersion,
			"MODIFIED w-b@" + b2.ResourceVersion,
		}
		for _, wnt := range want {
			if got := evString(next(t, w)); got != wnt {
				t.Fatalf("got %s, want %s", got, wnt)
			}
		}
		del := next(t, w)
		if del.Type != watch.Deleted || del.Object.(*corev1.ConfigMap).Name != "w-a" ||
			rvOf(t, del.Object.(*corev1.ConfigMap).ResourceVersion) <= rvOf(t, b2.ResourceVersion) {
			t.Fatalf("third event %s, want DELETED w-a at the deletion's revision", evString(del))
		}
		// Live events follow the replayed ones.
		c, err := cms.Create(e.ctx, cm("w-c", nil), metav1.CreateOptions{})
		must(t, err)
		if got := evString(next(t, w)); got != "ADDED w-c@"+c.ResourceVersion {
			t.Fatalf("live event %s", got)
		}
	})

	t.Run("label selector turns leaving into DELETED", func(t *testing.T) {
		s, err := cms.Create(e.ctx, cm("w-sel", map[string]string{"w": "in"}), metav1.CreateOptions{})
		must(t, err)
		w, err := cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: s.ResourceVersion, LabelSelector: "w=in"})
		must(t, err)
		defer w.Stop()
		_, err = cms.Create(e.ctx, cm("w-other", map[string]string{"w": "out"}), metav1.CreateOptions{})
		must(t, err)
		s.Labels["w"] = "out"
		s, err = cms.Update(e.ctx, s, metav1.UpdateOptions{})
		must(t, err)
		ev := next(t, w)
		if ev.Type != watch.Deleted || ev.Object.(*corev1.ConfigMap).Name != "w-sel" {
			t.Fatalf("leaving the selector: %s, want DELETED w-sel", evString(ev))
		}
		s.Labels["w"] = "in"
		s, err = cms.Update(e.ctx, s, metav1.UpdateOptions{})
		must(t, err)
		if got := evString(next(t, w)); got != "ADDED w-sel@"+s.ResourceVersion {
			t.Fatalf("entering the selector: %s", got)
		}
	})

	t.Run("bookmarks", func(t *testing.T) {
		l, err := cms.List(e.ctx, metav1.ListOptions{})
		must(t, err)
		w, err := cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion, AllowWatchBookmarks: true})
		must(t, err)
		defer w.Stop()
		deadline := time.After(3 * bookmarkInterval)
		for {
			select {
			case ev := <-w.ResultChan():
				if ev.Type != watch.Bookmark {
					continue
				}
				bm := ev.Object.(*corev1.ConfigMap)
				if rvOf(t, bm.ResourceVersion) < rvOf(t, l.ResourceVersion) {
					t.Fatalf("bookmark at %s, before the watch's start %s", bm.ResourceVersion, l.ResourceVersion)
				}
				if bm.Name != "" || bm.Data != nil {
					t.Fatalf("a bookmark carries only a resourceVersion: %+v", bm)
				}
				return
			case <-deadline:
				t.Fatalf("no bookmark within %s", 3*bookmarkInterval)
			}
		}
	})

	t.Run("sendInitialEvents", func(t *testing.T) {
		ns := e.namespace()
		for _, n := range []string{"i-1", "i-2", "i-3"} {
			_, err := e.cs.CoreV1().ConfigMaps(ns).Create(e.ctx, cm(n, nil), metav1.CreateOptions{})
			must(t, err)
		}
		w, err := e.cs.CoreV1().ConfigMaps(ns).Watch(e.ctx, metav1.ListOptions{SendInitialEvents: ptr(true),
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, AllowWatchBookmarks: true})
		must(t, err)
		defer w.Stop()
		seen := map[string]bool{}
		for {
			ev := next(t, w)
			if ev.Type == watch.Bookmark {
				bm := ev.Object.(*corev1.ConfigMap)
				if bm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
					t.Fatalf("first bookmark lacks %s: %v", metav1.InitialEventsAnnotationKey, bm.Annotations)
				}
				break
			}
			if ev.Type != watch.Added {
				t.Fatalf("initial event %s", evString(ev))
			}
			seen[ev.Object.(*corev1.ConfigMap).Name] = true
		}
		for _, n := range []string{"i-1", "i-2", "i-3"} {
			if !seen[n] {
				t.Fatalf("initial events missed %s (saw %v)", n, seen)
			}
		}
		_, err = e.cs.CoreV1().ConfigMaps(ns).Create(e.ctx, cm("i-4", nil), metav1.CreateOptions{})
		must(t, err)
		for {
			ev := next(t, w)
			if ev.Type == watch.Bookmark {
				continue
			}
			if ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "i-4" {
				t.Fatalf("after the initial events: %s", evString(ev))
			}
			break
		}
		// sendInitialEvents without NotOlderThan or without bookmarks is refused.
		_, err = cms.Watch(e.ctx, metav1.ListOptions{SendInitialEvents: ptr(true), AllowWatchBookmarks: true})
		st := wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeForbidden, "resourceVersionMatch")
		_, err = cms.Watch(e.ctx, metav1.ListOptions{SendInitialEvents: ptr(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		st = wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeForbidden, "allowWatchBookmarks")
		// And resourceVersionMatch on a plain watch too.
		_, err = cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: "1", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		st = wantStatus(t, err, 422, metav1.StatusReasonInvalid)
		wantCause(t, st, metav1.CauseTypeForbidden, "resourceVersionMatch")
	})

	t.Run("timeoutSeconds ends the watch", func(t *testing.T) {
		start := time.Now()
		w, err := cms.Watch(e.ctx, metav1.ListOptions{TimeoutSeconds: ptr(int64(1))})
		must(t, err)
		defer w.Stop()
		for {
			select {
			case _, ok := <-w.ResultChan():
				if ok {
					continue
				}
				if d := time.Since(start); d < 900*time.Millisecond {
					t.Fatalf("watch ended after %s, before its timeout", d)
				}
				return
			case <-time.After(5 * time.Second):
				t.Fatal("watch with timeoutSeconds=1 still open after 5s")
			}
		}
	})
}

// TestWatchTooOldResourceVersion resumes a watch from before a tiny watch-cache window: upstream
// answers 200 and then one ERROR event carrying a 410 Expired status, which client-go's reflector
// takes as the signal to relist.
func TestWatchTooOldResourceVersion(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Mutate: func(c *server.Config) { c.WatchHistoryWindow = 5 }})
	e := envFor(t, s)
	cms := e.cs.CoreV1().ConfigMaps(e.ns)
	first, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "old-0"}}, metav1.CreateOptions{})
	must(t, err)
	for i := 1; i < 12; i++ {
		_, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("old-%d", i)}}, metav1.CreateOptions{})
		must(t, err)
	}
	w, err := cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatalf("watch from a too-old resourceVersion failed before streaming (%v); upstream streams an ERROR event", err)
	}
	defer w.Stop()
	ev := next(t, w)
	st, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("first event %s, want ERROR 410 Expired", evString(ev))
	}
	// A recent resourceVersion still works.
	l, err := cms.List(e.ctx, metav1.ListOptions{})
	must(t, err)
	w2, err := cms.Watch(e.ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	must(t, err)
	defer w2.Stop()
	_, err = cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{})
	must(t, err)
	if ev := next(t, w2); ev.Type != watch.Added {
		t.Fatalf("recent watch: %s", evString(ev))
	}
}
