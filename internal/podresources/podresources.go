package podresources

import (
	corev1 "k8s.io/api/core/v1"
)

// Requests is the pod's effective request of every resource: its containers run together, with
// restartable init containers (sidecars) alongside them, while each ordinary init container runs
// alone beside the sidecars started before it; the larger of the two phases counts, plus overhead.
func Requests(pod *corev1.Pod) corev1.ResourceList {
	return effective(pod, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests })
}

// Limits is Requests for limits.
func Limits(pod *corev1.Pod) corev1.ResourceList {
	return effective(pod, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Limits })
}

func effective(pod *corev1.Pod, of func(*corev1.Container) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for i := range pod.Spec.Containers {
		addInto(total, of(&pod.Spec.Containers[i]))
	}
	sidecars := corev1.ResourceList{}
	initPeak := corev1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addInto(total, of(c))
			addInto(sidecars, of(c))
			continue
		}
		phase := corev1.ResourceList{}
		addInto(phase, of(c))
		addInto(phase, sidecars)
		maxInto(initPeak, phase)
	}
	maxInto(total, initPeak)
	addInto(total, pod.Spec.Overhead)
	return total
}

func addInto(dst, src corev1.ResourceList) {
	for k, v := range src {
		if cur, ok := dst[k]; ok {
			cur.Add(v)
			dst[k] = cur
		} else {
			dst[k] = v.DeepCopy()
		}
	}
}

func maxInto(dst, src corev1.ResourceList) {
	for k, v := range src {
		if cur, ok := dst[k]; !ok || v.Cmp(cur) > 0 {
			dst[k] = v.DeepCopy()
		}
	}
}
