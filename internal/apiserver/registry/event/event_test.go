package event

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

var (
	t0 = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	m0 = metav1.NewMicroTime(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC))
)

func fullEventsV1() *eventsv1.Event {
	return &eventsv1.Event{
		TypeMeta:                 metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
		ObjectMeta:               metav1.ObjectMeta{Name: "web.1", Namespace: "default", Labels: map[string]string{"a": "b"}, ResourceVersion: "7"},
		EventTime:                m0,
		Series:                   &eventsv1.EventSeries{Count: 3, LastObservedTime: m0},
		ReportingController:      "skiff.dev/scheduler",
		ReportingInstance:        "scheduler-node1",
		Action:                   "Binding",
		Reason:                   "Scheduled",
		Regarding:                corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1", APIVersion: "v1", ResourceVersion: "5", FieldPath: "spec"},
		Related:                  &corev1.ObjectReference{Kind: "Node", Name: "node1"},
		Note:                     "assigned default/web to node1",
		Type:                     corev1.EventTypeNormal,
		DeprecatedSource:         corev1.EventSource{Component: "scheduler", Host: "node1"},
		DeprecatedFirstTimestamp: t0,
		DeprecatedLastTimestamp:  t0,
		DeprecatedCount:          4,
	}
}

func TestConversionMapsFields(t *testing.T) {
	in := fullEventsV1()
	before := in.DeepCopy()
	core := ToCore(in)
	if !reflect.DeepEqual(in, before) {
		t.Fatalf("ToCore modified its argument")
	}
	want := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              "Scheduled",
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      t0,
		LastTimestamp:       t0,
		Count:               4,
		Type:                "Normal",
		EventTime:           m0,
		Series:              &corev1.EventSeries{Count: 3, LastObservedTime: m0},
		Action:              "Binding",
		Related:             in.Related,
		ReportingController: "skiff.dev/scheduler",
		ReportingInstance:   "scheduler-node1",
	}
	if !reflect.DeepEqual(core, want) {
		t.Fatalf("ToCore:\n got %+v\nwant %+v", core, want)
	}
	core.Labels["a"] = "changed"
	core.Related.Name = "changed"
	if in.Labels["a"] != "b" || in.Related.Name != "node1" {
		t.Fatalf("ToCore result aliases its argument")
	}
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		ev   *eventsv1.Event
	}{
		{"full", fullEventsV1()},
		{"minimal", &eventsv1.Event{TypeMeta: metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"}, ObjectMeta: metav1.ObjectMeta{Name: "x"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stored, err := ToStorage(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := stored.(*corev1.Event); !ok {
				t.Fatalf("ToStorage returned %T", stored)
			}
			back, err := FromStorage(stored)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.ev) {
				t.Fatalf("events.k8s.io round trip:\n got %+v\nwant %+v", back, tc.ev)
			}
			core := stored.(*corev1.Event)
			if again := ToCore(FromCore(core)); !reflect.DeepEqual(again, core) {
				t.Fatalf("core round trip:\n got %+v\nwant %+v", again, core)
			}
		})
	}
	if _, err := ToStorage(&corev1.Pod{}); err == nil {
		t.Fatalf("ToStorage accepted a Pod")
	}
}

func legacy(mut func(*corev1.Event)) *corev1.Event {
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
		Reason:         "Pulled", Message: "pulled", Type: "Normal",
		Source: corev1.EventSource{Component: "kubelet"}, FirstTimestamp: t0, LastTimestamp: t0, Count: 1,
	}
	if mut != nil {
		mut(ev)
	}
	return ev
}

func TestCoreValidate(t *testing.T) {
	cases := []struct {
		name string
		ev   *corev1.Event
		want []string
	}{
		{"legacy valid", legacy(nil), nil},
		{"legacy cluster-scoped object in default", legacy(func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "n1"} }), nil},
		{"legacy namespace mismatch", legacy(func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }),
			[]string{"FieldValueInvalid involvedObject.namespace"}},
		{"legacy free-form type allowed", legacy(func(e *corev1.Event) { e.Type = "Custom" }), nil},
		{"new style missing reporting fields", legacy(func(e *corev1.Event) { e.EventTime = m0; e.Reason = "" }),
			[]string{"FieldValueRequired action", "FieldValueRequired reason", "FieldValueRequired reportingComponent", "FieldValueRequired reportingInstance"}},
		{"new style note too long", legacy(func(e *corev1.Event) {
			e.EventTime, e.ReportingController, e.ReportingInstance, e.Action = m0, "kubelet", "node1", "Pull"
			e.Message = strings.Repeat("x", 1025)
		}), []string{"FieldValueInvalid message"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), tc.ev), tc.want...)
		})
	}
}

func TestEventsV1Validate(t *testing.T) {
	valid := func(mut func(*eventsv1.Event)) *eventsv1.Event {
		e := fullEventsV1()
		e.DeprecatedSource, e.DeprecatedFirstTimestamp, e.DeprecatedLastTimestamp, e.DeprecatedCount = corev1.EventSource{}, metav1.Time{}, metav1.Time{}, 0
		if mut != nil {
			mut(e)
		}
		return e
	}
	cases := []struct {
		name string
		ev   *eventsv1.Event
		want []string
	}{
		{"valid", valid(nil), nil},
		{"deprecated fields set", fullEventsV1(), []string{"FieldValueInvalid deprecatedCount", "FieldValueInvalid deprecatedFirstTimestamp",
			"FieldValueInvalid deprecatedLastTimestamp", "FieldValueInvalid deprecatedSource"}},
		{"no eventTime", valid(func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} }), []string{"FieldValueRequired eventTime"}},
		{"bad type", valid(func(e *eventsv1.Event) { e.Type = "Info" }), []string{"FieldValueInvalid type"}},
		{"short series", valid(func(e *eventsv1.Event) { e.Series.Count = 1 }), []string{"FieldValueInvalid series.count"}},
		{"missing controller", valid(func(e *eventsv1.Event) { e.ReportingController = "" }), []string{"FieldValueRequired reportingController"}},
		{"regarding namespace mismatch", valid(func(e *eventsv1.Event) { e.Regarding.Namespace = ""; e.Namespace = "team" }),
			[]string{"FieldValueInvalid regarding.namespace"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, EventsV1Strategy().Validate(context.Background(), tc.ev), tc.want...)
		})
	}

	old := valid(nil)
	upd := old.DeepCopy()
	upd.Series.Count = 4
	upd.EventTime = metav1.NewMicroTime(m0.Add(100 * time.Nanosecond))
	registrytest.ExpectErrors(t, EventsV1Strategy().ValidateUpdate(context.Background(), upd, old))
	upd.Note = "changed"
	upd.Regarding.Name = "other"
	registrytest.ExpectErrors(t, EventsV1Strategy().ValidateUpdate(context.Background(), upd, ToCore(old)),
		"FieldValueInvalid note", "FieldValueInvalid regarding")
}

func TestSelectableFields(t *testing.T) {
	ev := ToCore(fullEventsV1())
	core := Strategy().SelectableFields(ev)
	if core["involvedObject.name"] != "web" || core["involvedObject.uid"] != "u1" || core["source"] != "scheduler" ||
		core["reportingComponent"] != "skiff.dev/scheduler" || core["type"] != "Normal" || core["reason"] != "Scheduled" {
		t.Fatalf("core fields: %v", core)
	}
	ev.Source = corev1.EventSource{}
	if got := Strategy().SelectableFields(ev)["source"]; got != "skiff.dev/scheduler" {
		t.Fatalf("source fallback: %q", got)
	}
	v1 := EventsV1Strategy().SelectableFields(fullEventsV1())
	if v1["regarding.kind"] != "Pod" || v1["regarding.fieldPath"] != "spec" || v1["reportingController"] != "skiff.dev/scheduler" {
		t.Fatalf("events.k8s.io fields: %v", v1)
	}
}
