package tolerationseconds

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
)

func TestAdmit(t *testing.T) {
	notReady := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
	unreachable := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
	own := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)}
	other := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	cases := []struct {
		name        string
		subresource string
		in, want    []corev1.Toleration
	}{
		{name: "none", want: []corev1.Toleration{notReady, unreachable}},
		{name: "unrelated kept", in: []corev1.Toleration{other}, want: []corev1.Toleration{other, notReady, unreachable}},
		{name: "own not-ready kept", in: []corev1.Toleration{own}, want: []corev1.Toleration{own, unreachable}},
		{name: "wildcard tolerates all", in: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, want: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{name: "NoSchedule does not count", in: []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			want: []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}, notReady, unreachable}},
		{name: "status untouched", subresource: "status", want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tc.in}}
			a := &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Subresource: tc.subresource, Object: pod}
			if err := New().Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pod.Spec.Tolerations, tc.want) {
				t.Fatalf("got %+v\nwant %+v", pod.Spec.Tolerations, tc.want)
			}
		})
	}
}
