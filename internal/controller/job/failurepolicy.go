package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// failureVerdict is what the pod failure policy decides for one failed pod. A nil verdict means no
// rule matched: the failure counts towards the backoff limits.
type failureVerdict struct {
	action  batchv1.PodFailurePolicyAction
	message string
}

// matchFailurePolicy returns the action of the first rule the failed pod matches.
func matchFailurePolicy(policy *batchv1.PodFailurePolicy, p *corev1.Pod) *failureVerdict {
	if policy == nil {
		return nil
	}
	for i, r := range policy.Rules {
		if r.OnExitCodes != nil {
			if c := matchingExitCode(r.OnExitCodes, p); c != nil {
				return &failureVerdict{action: r.Action, message: fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %s rule at index %d",
					c.Name, p.Namespace, p.Name, c.State.Terminated.ExitCode, r.Action, i)}
			}
			continue
		}
		for _, pat := range r.OnPodConditions {
			for _, cond := range p.Status.Conditions {
				if cond.Type == pat.Type && cond.Status == pat.Status {
					return &failureVerdict{action: r.Action, message: fmt.Sprintf("Pod %s/%s has condition %s matching %s rule at index %d",
						p.Namespace, p.Name, cond.Type, r.Action, i)}
				}
			}
		}
	}
	return nil
}

// matchingExitCode finds a container that ended with a non-zero exit code the requirement selects.
func matchingExitCode(req *batchv1.PodFailurePolicyOnExitCodesRequirement, p *corev1.Pod) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			c := &list[i]
			t := c.State.Terminated
			if t == nil || t.ExitCode == 0 {
				continue
			}
			if req.ContainerName != nil && *req.ContainerName != c.Name {
				continue
			}
			in := slices.Contains(req.Values, t.ExitCode)
			if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
				return c
			}
		}
	}
	return nil
}
