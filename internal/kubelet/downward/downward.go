package downward

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// FieldValue resolves a fieldRef against pod. podIPs and hostIPs, when given, win over the pod's
// status, which the kubelet may not have written yet; otherwise status fields read "" until the
// pod has them.
func FieldValue(pod *corev1.Pod, ref *corev1.ObjectFieldSelector, podIPs, hostIPs []string) (string, error) {
	if ref.APIVersion != "" && ref.APIVersion != "v1" {
		return "", fmt.Errorf("unsupported fieldRef apiVersion %q", ref.APIVersion)
	}
	if len(podIPs) == 0 {
		for _, ip := range pod.Status.PodIPs {
			podIPs = append(podIPs, ip.IP)
		}
		if len(podIPs) == 0 && pod.Status.PodIP != "" {
			podIPs = []string{pod.Status.PodIP}
		}
	}
	if len(hostIPs) == 0 {
		for _, ip := range pod.Status.HostIPs {
			hostIPs = append(hostIPs, ip.IP)
		}
		if len(hostIPs) == 0 && pod.Status.HostIP != "" {
			hostIPs = []string{pod.Status.HostIP}
		}
	}
	p := ref.FieldPath
	if key, ok := subscript(p, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(p, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch p {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return first(podIPs), nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	case "status.hostIP":
		return first(hostIPs), nil
	case "status.hostIPs":
		return strings.Join(hostIPs, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", p)
}

func first(list []string) string {
	if len(list) > 0 {
		return list[0]
	}
	return ""
}

// subscript parses `prefix['key']`.
func subscript(p, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(p, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// formatMap renders labels or annotations as upstream does: one key="quoted value" per line,
// keys sorted, no trailing newline.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k + "=" + strconv.Quote(m[k]))
	}
	return b.String()
}

// ResourceValue resolves a resourceFieldRef: a container's limit or request, divided by the divisor
// and rounded up. The container is ref.ContainerName, or self when that is empty (environment
// variables may omit it; volumes pass self ""). An unset CPU, memory or ephemeral-storage limit
// reads as the node's allocatable amount, since that is what bounds the container.
func ResourceValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector, self string, allocatable corev1.ResourceList) (string, error) {
	name := ref.ContainerName
	if name == "" {
		name = self
	}
	if name == "" {
		return "", fmt.Errorf("resourceFieldRef %q needs a containerName", ref.Resource)
	}
	c := findContainer(pod, name)
	if c == nil {
		return "", fmt.Errorf("container %s not found", name)
	}
	// Only what the API lets a resourceFieldRef name: cpu, memory, ephemeral-storage, hugepages.
	kind, res, ok := strings.Cut(ref.Resource, ".")
	rn := corev1.ResourceName(res)
	known := rn == corev1.ResourceCPU || rn == corev1.ResourceMemory || rn == corev1.ResourceEphemeralStorage ||
		strings.HasPrefix(res, corev1.ResourceHugePagesPrefix)
	if !ok || (kind != "limits" && kind != "requests") || !known {
		return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
	}
	var q resource.Quantity
	if kind == "limits" {
		v, set := c.Resources.Limits[rn]
		if !set {
			switch rn {
			case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
				v = allocatable[rn]
			}
		}
		q = v
	} else {
		q = c.Resources.Requests[rn]
	}
	if rn == corev1.ResourceCPU {
		d := ref.Divisor.MilliValue()
		if d <= 0 {
			d = 1000
		}
		return strconv.FormatInt(ceilDiv(q.MilliValue(), d), 10), nil
	}
	d := ref.Divisor.Value()
	if d <= 0 {
		d = 1
	}
	return strconv.FormatInt(ceilDiv(q.Value(), d), 10), nil
}

func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return a / b
	}
	return (a + b - 1) / b
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}
