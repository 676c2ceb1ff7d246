package podresources

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func ctr(req corev1.ResourceList) corev1.Container {
	return corev1.Container{Resources: corev1.ResourceRequirements{Requests: req, Limits: req}}
}

func TestRequests(t *testing.T) {
	sidecar := ctr(rl("cpu", "100m"))
	sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	cases := []struct {
		name string
		spec corev1.PodSpec
		want corev1.ResourceList
	}{
		{"empty", corev1.PodSpec{}, rl()},
		{"sum of containers", corev1.PodSpec{Containers: []corev1.Container{ctr(rl("cpu", "100m", "memory", "1Gi")), ctr(rl("cpu", "200m"))}}, rl("cpu", "300m", "memory", "1Gi")},
		{"init container larger", corev1.PodSpec{InitContainers: []corev1.Container{ctr(rl("cpu", "1"))}, Containers: []corev1.Container{ctr(rl("cpu", "200m"))}}, rl("cpu", "1")},
		{"init container smaller", corev1.PodSpec{InitContainers: []corev1.Container{ctr(rl("cpu", "100m"))}, Containers: []corev1.Container{ctr(rl("cpu", "200m"))}}, rl("cpu", "200m")},
		{"sidecar adds", corev1.PodSpec{InitContainers: []corev1.Container{sidecar, ctr(rl("cpu", "250m"))}, Containers: []corev1.Container{ctr(rl("cpu", "200m"))}}, rl("cpu", "350m")},
		{"init after sidecar", corev1.PodSpec{InitContainers: []corev1.Container{sidecar, ctr(rl("cpu", "500m"))}, Containers: []corev1.Container{ctr(rl("cpu", "200m"))}}, rl("cpu", "600m")},
		{"overhead", corev1.PodSpec{Overhead: rl("cpu", "10m"), Containers: []corev1.Container{ctr(rl("cpu", "200m"))}}, rl("cpu", "210m")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tc.spec}
			for _, got := range []corev1.ResourceList{Requests(pod), Limits(pod)} {
				if len(got) != len(tc.want) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
				for k, v := range tc.want {
					if g := got[k]; g.Cmp(v) != 0 {
						t.Fatalf("%s: got %s, want %s", k, g.String(), v.String())
					}
				}
			}
		})
	}
}
