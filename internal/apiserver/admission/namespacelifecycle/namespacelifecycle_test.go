package namespacelifecycle

import (
	"context"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/admissiontest"
)

func ns(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func TestAdmit(t *testing.T) {
	pods := corev1.SchemeGroupVersion.WithResource("pods")
	events := corev1.SchemeGroupVersion.WithResource("events")
	pod := func(namespace string) runtime.Object {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: namespace}}
	}
	cases := []struct {
		name    string
		attrs   admission.Attributes
		hidden  bool // the namespace is in storage but not yet in the cache
		code    int32
		message string
		cause   bool
	}{
		{name: "create in active namespace", attrs: admission.Attributes{Operation: admission.Create, Resource: pods, Namespace: "active", Name: "p", Object: pod("active")}},
		{name: "create in missing namespace", attrs: admission.Attributes{Operation: admission.Create, Resource: pods, Namespace: "nope", Name: "p", Object: pod("nope")},
			code: http.StatusNotFound, message: `namespaces "nope" not found`},
		{name: "update in missing namespace", attrs: admission.Attributes{Operation: admission.Update, Resource: pods, Namespace: "nope", Name: "p", Object: pod("nope")},
			code: http.StatusNotFound, message: `namespaces "nope" not found`},
		{name: "create in terminating namespace", attrs: admission.Attributes{Operation: admission.Create, Resource: pods, Namespace: "dying", Name: "p", Object: pod("dying")},
			code: http.StatusForbidden, message: `pods "p" is forbidden: unable to create new content in namespace dying because it is being terminated`, cause: true},
		{name: "generated name in terminating namespace", attrs: admission.Attributes{Operation: admission.Create, Resource: pods, Namespace: "dying", Object: pod("dying")},
			code: http.StatusForbidden, message: `pods "p" is forbidden: unable to create new content in namespace dying because it is being terminated`, cause: true},
		{name: "event in terminating namespace", attrs: admission.Attributes{Operation: admission.Create, Resource: events, Namespace: "dying", Name: "e"},
			code: http.StatusForbidden, message: `events "e" is forbidden: unable to create new content in namespace dying because it is being terminated`, cause: true},
		{name: "update in terminating namespace", attrs: admission.Attributes{Operation: admission.Update, Resource: pods, Namespace: "dying", Name: "p", Object: pod("dying")}},
		{name: "delete in missing namespace", attrs: admission.Attributes{Operation: admission.Delete, Resource: pods, Namespace: "nope", Name: "p", OldObject: pod("nope")}},
		{name: "cluster-scoped", attrs: admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("nodes"), Name: "n"}},
		{name: "create namespace", attrs: admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"), Name: "new"}},
		{name: "cache lags a new namespace", hidden: true, attrs: admission.Attributes{Operation: admission.Create, Resource: pods, Namespace: "fresh", Name: "p", Object: pod("fresh")}},
	}
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		cases = append(cases, struct {
			name    string
			attrs   admission.Attributes
			hidden  bool
			code    int32
			message string
			cause   bool
		}{name: "delete " + name, attrs: admission.Attributes{Operation: admission.Delete, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"), Name: name},
			code: http.StatusForbidden, message: `namespaces "` + name + `" is forbidden: this namespace may not be deleted`})
	}
	cases = append(cases, struct {
		name    string
		attrs   admission.Attributes
		hidden  bool
		code    int32
		message string
		cause   bool
	}{name: "delete ordinary namespace", attrs: admission.Attributes{Operation: admission.Delete, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"), Name: "active"}})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := admissiontest.New(ns("active", corev1.NamespaceActive), ns("dying", corev1.NamespaceTerminating), ns("fresh", corev1.NamespaceActive))
			if tc.hidden {
				l.Hide(corev1.SchemeGroupVersion.WithResource("namespaces"), "", "fresh")
			}
			a := tc.attrs
			err := New(l).Admit(context.Background(), &a)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			se, ok := err.(*apierrors.StatusError)
			if !ok {
				t.Fatalf("got %v, want a status error %d", err, tc.code)
			}
			if se.ErrStatus.Code != tc.code || se.ErrStatus.Message != tc.message {
				t.Fatalf("got %d %q, want %d %q", se.ErrStatus.Code, se.ErrStatus.Message, tc.code, tc.message)
			}
			hasCause := se.ErrStatus.Details != nil && len(se.ErrStatus.Details.Causes) == 1 &&
				se.ErrStatus.Details.Causes[0].Type == corev1.NamespaceTerminatingCause
			if hasCause != tc.cause {
				t.Fatalf("NamespaceTerminating cause: got %v, want %v", hasCause, tc.cause)
			}
		})
	}
}

// TestDeletedNamespaceReadLive covers the window after a namespace's deletion is admitted and
// before the cache shows it Terminating.
func TestDeletedNamespaceReadLive(t *testing.T) {
	l := admissiontest.New(ns("going", corev1.NamespaceActive))
	p := New(l)
	nsGVR := corev1.SchemeGroupVersion.WithResource("namespaces")
	if err := p.Admit(context.Background(), &admission.Attributes{Operation: admission.Delete, Resource: nsGVR, Name: "going"}); err != nil {
		t.Fatal(err)
	}
	// Storage has the namespace Terminating; the cache still says Active.
	l.Add(ns("going", corev1.NamespaceTerminating))
	l.Hide(nsGVR, "", "going")
	l2 := &staleCache{Lookup: l, stale: ns("going", corev1.NamespaceActive)}
	p.lookup = l2
	err := p.Admit(context.Background(), &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("configmaps"), Namespace: "going", Name: "c"})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("got %v, want Forbidden", err)
	}
}

type staleCache struct {
	*admissiontest.Lookup
	stale runtime.Object
}

func (s *staleCache) Get(context.Context, schema.GroupVersionResource, string, string) (runtime.Object, error) {
	return s.stale, nil
}
