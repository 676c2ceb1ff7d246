package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// A shared, unfiltered pod informer must look to the scheduler like a watch of unfinished pods.
func TestUnfinishedPods(t *testing.T) {
	phase := func(p corev1.PodPhase) *corev1.Pod { return &corev1.Pod{Status: corev1.PodStatus{Phase: p}} }
	running, done, failed := phase(corev1.PodRunning), phase(corev1.PodSucceeded), phase(corev1.PodFailed)
	cases := []struct {
		name    string
		deliver func(cache.ResourceEventHandler)
		want    string
	}{
		{"add of a running pod", func(h cache.ResourceEventHandler) { h.OnAdd(running, false) }, "add"},
		{"add of a finished pod", func(h cache.ResourceEventHandler) { h.OnAdd(done, false) }, ""},
		{"update while running", func(h cache.ResourceEventHandler) { h.OnUpdate(running, running) }, "update"},
		{"pod succeeds", func(h cache.ResourceEventHandler) { h.OnUpdate(running, done) }, "delete"},
		{"pod fails", func(h cache.ResourceEventHandler) { h.OnUpdate(running, failed) }, "delete"},
		{"finished pod changes again", func(h cache.ResourceEventHandler) { h.OnUpdate(done, done) }, ""},
		{"delete of a running pod", func(h cache.ResourceEventHandler) { h.OnDelete(running) }, "delete"},
		{"delete of a finished pod", func(h cache.ResourceEventHandler) { h.OnDelete(done) }, ""},
		{"tombstone of a running pod", func(h cache.ResourceEventHandler) { h.OnDelete(cache.DeletedFinalStateUnknown{Obj: running}) }, "delete"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			tc.deliver(unfinishedPods(cache.ResourceEventHandlerFuncs{
				AddFunc:    func(any) { got += "add" },
				UpdateFunc: func(any, any) { got += "update" },
				DeleteFunc: func(any) { got += "delete" },
			}))
			if got != tc.want {
				t.Errorf("handler saw %q, want %q", got, tc.want)
			}
		})
	}
}
