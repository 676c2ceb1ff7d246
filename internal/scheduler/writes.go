package scheduler

import (
	"context"
	"errors"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
)

// The scheduler writes two objects per pod it places: the binding and its Scheduled event.
// client-go's typed calls turn their (always empty) create options into query parameters by
// reflection on every call, a few percent of the whole control plane's CPU at a thousand pods a
// second; these write the same requests straight through the REST client. Clients without one
// (the fake clientsets of tests) go through the typed calls.

// restOf returns c's REST client, or nil when it has none.
func restOf(c rest.Interface) rest.Interface {
	if c == nil || reflect.ValueOf(c).IsNil() {
		return nil
	}
	return c
}

// bindPod posts b to pods/binding.
func bindPod(ctx context.Context, client kubernetes.Interface, b *corev1.Binding) error {
	rc := restOf(client.CoreV1().RESTClient())
	if rc == nil {
		return client.CoreV1().Pods(b.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	}
	return rc.Post().Namespace(b.Namespace).Resource("pods").Name(b.Name).SubResource("binding").Body(b).Do(ctx).Error()
}

// newEventSink is events.EventSinkImpl without the query parameters.
func newEventSink(client kubernetes.Interface) events.EventSink {
	if rc := restOf(client.EventsV1().RESTClient()); rc != nil {
		return restEventSink{rc}
	}
	return &events.EventSinkImpl{Interface: client.EventsV1()}
}

type restEventSink struct{ rc rest.Interface }

var errNoNamespace = errors.New("can't write an event with empty namespace")

func (s restEventSink) Create(ctx context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	if ev.Namespace == "" {
		return nil, errNoNamespace
	}
	out := &eventsv1.Event{}
	return out, s.rc.Post().Namespace(ev.Namespace).Resource("events").Body(ev).Do(ctx).Into(out)
}

func (s restEventSink) Update(ctx context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	if ev.Namespace == "" {
		return nil, errNoNamespace
	}
	out := &eventsv1.Event{}
	return out, s.rc.Put().Namespace(ev.Namespace).Resource("events").Name(ev.Name).Body(ev).Do(ctx).Into(out)
}

func (s restEventSink) Patch(ctx context.Context, ev *eventsv1.Event, data []byte) (*eventsv1.Event, error) {
	if ev.Namespace == "" {
		return nil, errNoNamespace
	}
	out := &eventsv1.Event{}
	return out, s.rc.Patch(types.StrategicMergePatchType).Namespace(ev.Namespace).Resource("events").Name(ev.Name).Body(data).Do(ctx).Into(out)
}
