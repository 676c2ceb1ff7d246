package event

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ToCore converts an events.k8s.io/v1 Event to its core/v1 storage form. The argument is not
// modified; the result shares nothing with it.
func ToCore(in *eventsv1.Event) *corev1.Event {
	in = in.DeepCopy()
	out := &corev1.Event{
		TypeMeta:            corev1TypeMeta(),
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Related:             in.Related,
		Action:              in.Action,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if in.Series != nil {
		out.Series = &corev1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	return out
}

// FromCore converts a stored core/v1 Event to events.k8s.io/v1. The argument is not modified.
func FromCore(in *corev1.Event) *eventsv1.Event {
	in = in.DeepCopy()
	out := &eventsv1.Event{
		TypeMeta:                 eventsV1TypeMeta(),
		ObjectMeta:               in.ObjectMeta,
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if in.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	return out
}

// ToStorage is the registry.Resource.ToStorage hook of events.k8s.io/v1 events: it accepts an
// *eventsv1.Event and returns the *corev1.Event to store.
func ToStorage(obj runtime.Object) (runtime.Object, error) {
	switch e := obj.(type) {
	case *eventsv1.Event:
		return ToCore(e), nil
	case *corev1.Event:
		return e.DeepCopy(), nil
	}
	return nil, fmt.Errorf("events.k8s.io/v1 ToStorage: unexpected type %T", obj)
}

// FromStorage is the registry.Resource.FromStorage hook of events.k8s.io/v1 events: it accepts a
// stored *corev1.Event and returns the *eventsv1.Event to serve.
func FromStorage(obj runtime.Object) (runtime.Object, error) {
	switch e := obj.(type) {
	case *corev1.Event:
		return FromCore(e), nil
	case *eventsv1.Event:
		return e.DeepCopy(), nil
	}
	return nil, fmt.Errorf("events.k8s.io/v1 FromStorage: unexpected type %T", obj)
}

func corev1TypeMeta() (tm metav1.TypeMeta) {
	tm.APIVersion, tm.Kind = "v1", "Event"
	return tm
}

func eventsV1TypeMeta() (tm metav1.TypeMeta) {
	tm.APIVersion, tm.Kind = eventsv1.SchemeGroupVersion.String(), "Event"
	return tm
}
