package volume

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// FieldValue resolves a downward API fieldRef against pod. It accepts every path the kubelet can
// answer (the environment's set, which is wider than what the API allows in volumes); status
// fields read "" until the pod has them, and a later Update rewrites the file.
func FieldValue(pod *corev1.Pod, ref *corev1.ObjectFieldSelector) (string, error) {
	if ref.APIVersion != "" && ref.APIVersion != "v1" {
		return "", fmt.Errorf("unsupported fieldRef apiVersion %q", ref.APIVersion)
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
		return pod.Status.PodIP, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.podIPs":
		ips := make([]string, 0, len(pod.Status.PodIPs))
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ","), nil
	case "status.hostIPs":
		ips := make([]string, 0, len(pod.Status.HostIPs))
		for _, ip := range pod.Status.HostIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", p)
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
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, k+"="+strconv.Quote(m[k]))
	}
	return strings.Join(lines, "\n")
}

// ResourceValue resolves a downward API resourceFieldRef: the named container's limit or request,
// divided by the divisor and rounded up. An unset CPU, memory or ephemeral-storage limit reads as
// the node's allocatable amount, since that is what bounds the container.
func ResourceValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	if ref.ContainerName == "" {
		return "", fmt.Errorf("resourceFieldRef %q needs a containerName in a volume", ref.Resource)
	}
	c := findContainer(pod, ref.ContainerName)
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef %q: container %q not found in pod", ref.Resource, ref.ContainerName)
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") || name == "" {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	rn := corev1.ResourceName(name)
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
	divisor := ref.Divisor
	if rn == corev1.ResourceCPU {
		d := divisor.MilliValue()
		if d <= 0 {
			d = 1000
		}
		return strconv.FormatInt(ceilDiv(q.MilliValue(), d), 10), nil
	}
	d := divisor.Value()
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
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}
