package downward

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestFieldValue(t *testing.T) {
	pod := testPod("uid-1")
	pod.Annotations = map[string]string{"note": "say \"hi\"\nbye", "a": "1"}
	pod.Status.PodIP = "10.0.0.5"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.5"}, {IP: "fd00::5"}}
	pod.Status.HostIP = "192.168.1.2"
	for _, tt := range []struct {
		path, want, err string
	}{
		{path: "metadata.name", want: "web"},
		{path: "metadata.namespace", want: "ns1"},
		{path: "metadata.uid", want: "uid-1"},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{path: "metadata.annotations", want: "a=\"1\"\nnote=\"say \\\"hi\\\"\\nbye\""},
		{path: "metadata.labels['tier']", want: "front"},
		{path: "metadata.labels['missing']", want: ""},
		{path: "metadata.annotations['a']", want: "1"},
		{path: "spec.nodeName", want: "node-a"},
		{path: "spec.serviceAccountName", want: "sa1"},
		{path: "status.podIP", want: "10.0.0.5"},
		{path: "status.podIPs", want: "10.0.0.5,fd00::5"},
		{path: "status.hostIP", want: "192.168.1.2"},
		{path: "spec.containers", err: "unsupported fieldPath"},
	} {
		got, err := FieldValue(pod, &corev1.ObjectFieldSelector{FieldPath: tt.path}, nil, nil)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

func TestResourceValue(t *testing.T) {
	pod := testPod("uid-1")
	pod.Spec.Containers = []corev1.Container{
		{Name: "limited", Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		}},
		{Name: "unlimited"},
	}
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	}}}
	for _, tt := range []struct {
		container, res, divisor, want, err string
	}{
		{container: "limited", res: "limits.cpu", want: "1"}, // 500m rounds up to one core
		{container: "limited", res: "limits.cpu", divisor: "1m", want: "500"},
		{container: "limited", res: "requests.cpu", divisor: "1m", want: "250"},
		{container: "limited", res: "limits.memory", want: "67108864"},
		{container: "limited", res: "limits.memory", divisor: "1Mi", want: "64"},
		{container: "limited", res: "requests.memory", divisor: "1Mi", want: "32"},
		{container: "unlimited", res: "limits.cpu", want: "4"},
		{container: "unlimited", res: "limits.memory", divisor: "1Gi", want: "8"},
		{container: "unlimited", res: "requests.cpu", want: "0"},
		{container: "init", res: "limits.memory", divisor: "1Mi", want: "1024"},
		{container: "", res: "limits.cpu", err: "needs a containerName"},
		{container: "nope", res: "limits.cpu", err: "container nope not found"},
		{container: "limited", res: "cpu", err: "unsupported container resource"},
	} {
		ref := &corev1.ResourceFieldSelector{ContainerName: tt.container, Resource: tt.res}
		if tt.divisor != "" {
			ref.Divisor = resource.MustParse(tt.divisor)
		}
		got, err := ResourceValue(pod, ref, "", testAllocatable)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s/%s: err = %v, want %q", tt.container, tt.res, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s/%s/%s = %q, %v; want %q", tt.container, tt.res, tt.divisor, got, err, tt.want)
		}
	}
}

var testAllocatable = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("4"),
	corev1.ResourceMemory: resource.MustParse("8Gi"),
}

func testPod(uid string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: types.UID(uid),
			Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: corev1.PodSpec{
			NodeName: "node-a", ServiceAccountName: "sa1",
			Containers: []corev1.Container{{Name: "c1"}},
		},
	}
}

// Caller-supplied addresses win over the pod's status, which may not be written yet.
func TestFieldValueCallerIPs(t *testing.T) {
	pod := testPod("uid-2")
	pod.Status.PodIP = "10.0.0.5"
	got, err := FieldValue(pod, &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}, []string{"10.0.0.9"}, nil)
	if err != nil || got != "10.0.0.9" {
		t.Fatalf("status.podIP with caller IPs: %q %v", got, err)
	}
}
