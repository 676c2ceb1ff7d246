package containerconfig

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// subscript splits "metadata.labels['key']" into ("metadata.labels", "key").
func subscript(path string) (string, string, bool) {
	i := strings.Index(path, "['")
	if i < 0 || !strings.HasSuffix(path, "']") || i+2 > len(path)-2 {
		return path, "", false
	}
	return path[:i], path[i+2 : len(path)-2], true
}

// formatMap renders a whole label or annotation map the way the downward
// API does: sorted key="quoted value" lines.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%v=%q", k, m[k])
	}
	return b.String()
}

func firstOr(list []string, fallback string) string {
	if len(list) > 0 {
		return list[0]
	}
	return fallback
}

// podFieldValue resolves a fieldRef. IPs passed by the caller win over the
// pod's status, which the kubelet may not have written yet.
func podFieldValue(path string, pod *v1.Pod, podIPs, hostIPs []string) (string, error) {
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
	if base, key, ok := subscript(path); ok {
		switch base {
		case "metadata.labels":
			return pod.Labels[key], nil
		case "metadata.annotations":
			return pod.Annotations[key], nil
		}
		return "", fmt.Errorf("unsupported fieldPath: %v", path)
	}
	switch path {
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
	case "status.hostIP":
		return firstOr(hostIPs, ""), nil
	case "status.hostIPs":
		return strings.Join(hostIPs, ","), nil
	case "status.podIP":
		return firstOr(podIPs, ""), nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", path)
}

// withDefaultLimits returns a copy of pod whose containers' unset limits
// are the node's allocatable, so a limits.* reference always has a value.
func withDefaultLimits(pod *v1.Pod, allocatable v1.ResourceList) *v1.Pod {
	out := pod.DeepCopy()
	fill := func(cs []v1.Container) {
		for i := range cs {
			for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage} {
				if _, ok := cs[i].Resources.Limits[name]; ok {
					continue
				}
				if q, ok := allocatable[name]; ok {
					if cs[i].Resources.Limits == nil {
						cs[i].Resources.Limits = v1.ResourceList{}
					}
					cs[i].Resources.Limits[name] = q.DeepCopy()
				}
			}
		}
	}
	fill(out.Spec.InitContainers)
	fill(out.Spec.Containers)
	return out
}

func findContainer(pod *v1.Pod, name string) *v1.Container {
	for _, list := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// resourceFieldValue renders a resourceFieldRef: the quantity divided by
// the divisor, rounded up, as an integer.
func resourceFieldValue(ref *v1.ResourceFieldSelector, pod *v1.Pod, self string) (string, error) {
	name := ref.ContainerName
	if name == "" {
		name = self
	}
	c := findContainer(pod, name)
	if c == nil {
		return "", fmt.Errorf("container %s not found", name)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	qty := func(list v1.ResourceList, n v1.ResourceName) resource.Quantity {
		if q, ok := list[n]; ok {
			return q
		}
		return resource.Quantity{}
	}
	ceilDiv := func(a, b float64) string { return strconv.FormatInt(int64(math.Ceil(a/b)), 10) }
	cpu := func(q resource.Quantity) string {
		return ceilDiv(float64(q.MilliValue()), float64(divisor.MilliValue()))
	}
	bytes := func(q resource.Quantity) string { return ceilDiv(float64(q.Value()), float64(divisor.Value())) }
	switch r := ref.Resource; {
	case r == "limits.cpu":
		return cpu(qty(c.Resources.Limits, v1.ResourceCPU)), nil
	case r == "requests.cpu":
		return cpu(qty(c.Resources.Requests, v1.ResourceCPU)), nil
	case r == "limits.memory":
		return bytes(qty(c.Resources.Limits, v1.ResourceMemory)), nil
	case r == "requests.memory":
		return bytes(qty(c.Resources.Requests, v1.ResourceMemory)), nil
	case r == "limits.ephemeral-storage":
		return bytes(qty(c.Resources.Limits, v1.ResourceEphemeralStorage)), nil
	case r == "requests.ephemeral-storage":
		return bytes(qty(c.Resources.Requests, v1.ResourceEphemeralStorage)), nil
	case strings.HasPrefix(r, "limits.hugepages-"):
		return bytes(qty(c.Resources.Limits, v1.ResourceName(strings.TrimPrefix(r, "limits.")))), nil
	case strings.HasPrefix(r, "requests.hugepages-"):
		return bytes(qty(c.Resources.Requests, v1.ResourceName(strings.TrimPrefix(r, "requests.")))), nil
	}
	return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
}
