package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestGracePeriod(t *testing.T) {
	onNode := func(phase corev1.PodPhase, own *int64) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1", TerminationGracePeriodSeconds: own}, Status: corev1.PodStatus{Phase: phase}}
	}
	cases := []struct {
		name      string
		pod       *corev1.Pod
		requested *int64
		want      int64
	}{
		{"unscheduled goes at once", &corev1.Pod{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](60)}}, ptr.To[int64](10), 0},
		{"succeeded goes at once", onNode(corev1.PodSucceeded, ptr.To[int64](60)), nil, 0},
		{"failed goes at once", onNode(corev1.PodFailed, nil), ptr.To[int64](10), 0},
		{"request wins", onNode(corev1.PodRunning, ptr.To[int64](60)), ptr.To[int64](10), 10},
		{"request of zero", onNode(corev1.PodRunning, ptr.To[int64](60)), ptr.To[int64](0), 0},
		{"pod's own period", onNode(corev1.PodRunning, ptr.To[int64](60)), nil, 60},
		{"default", onNode(corev1.PodPending, nil), nil, 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Strategy().GracePeriod(tc.pod, tc.requested); got != tc.want {
				t.Errorf("GracePeriod = %d, want %d", got, tc.want)
			}
		})
	}
}
