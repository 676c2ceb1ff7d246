package printers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// nodeLostReason is the pod status reason the node lifecycle controller sets on pods of an
// unreachable node; upstream prints such pods, once deleted, as Unknown rather than Terminating.
const nodeLostReason = "NodeLost"

var podTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Ready", Type: "string", Description: "Ready containers out of the containers the pod runs."},
		{Name: "Status", Type: "string", Description: "Summary of the pod's phase and the state of its containers."},
		{Name: "Restarts", Type: "string", Description: "Container restarts in the pod, and how long ago the last one was."},
		ageColumn,
		{Name: "IP", Type: "string", Priority: 1, Description: "The pod's primary IP address."},
		{Name: "Node", Type: "string", Priority: 1, Description: "The node the pod is bound to."},
		{Name: "Nominated Node", Type: "string", Priority: 1, Description: "The node the scheduler nominated for the pod after preemption."},
		{Name: "Readiness Gates", Type: "string", Priority: 1, Description: "Readiness gates that are true out of those the pod declares."},
	},
	Row: rowFor(podCells),
}

func podCells(pod *corev1.Pod) []interface{} {
	s := summarizePod(pod)

	ip := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}
	gates := none
	if n := len(pod.Spec.ReadinessGates); n > 0 {
		satisfied := 0
		for _, g := range pod.Spec.ReadinessGates {
			if podCondition(pod, g.ConditionType) == corev1.ConditionTrue {
				satisfied++
			}
		}
		gates = fmt.Sprintf("%d/%d", satisfied, n)
	}
	return []interface{}{
		pod.Name, s.ready, s.status, s.restarts, age(pod.CreationTimestamp),
		orNone(ip), orNone(pod.Spec.NodeName), orNone(pod.Status.NominatedNodeName), gates,
	}
}

// podSummary is the READY, STATUS and RESTARTS cells of a pod.
type podSummary struct {
	ready, status, restarts string
}

// podCondition returns the status of the first condition of the given type, or "" if it is absent.
func podCondition(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func isSidecar(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// summarizePod follows upstream's pod printer: the status starts from the phase (or the pod's reason),
// is overridden by the first init container that has not finished, and otherwise by the last app
// container with a waiting or terminated reason; deletion turns it into Terminating (or Unknown for a
// lost node). Restart counts only cover init containers while the pod is still initialising.
func summarizePod(pod *corev1.Pod) podSummary {
	total := len(pod.Spec.Containers)
	ready := 0
	restarts, sidecarRestarts := 0, 0
	var lastRestart, lastSidecarRestart time.Time

	status := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		status = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			status = corev1.PodReasonSchedulingGated
		}
	}

	initSpecs := make(map[string]*corev1.Container, len(pod.Spec.InitContainers))
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		initSpecs[c.Name] = c
		if isSidecar(c) {
			total++
		}
	}

	later := func(last *time.Time, cs corev1.ContainerStatus) {
		if t := cs.LastTerminationState.Terminated; t != nil && t.FinishedAt.Time.After(*last) {
			*last = t.FinishedAt.Time
		}
	}

	initializing := false
	for i, cs := range pod.Status.InitContainerStatuses {
		restarts += int(cs.RestartCount)
		later(&lastRestart, cs)
		sidecar := isSidecar(initSpecs[cs.Name])
		if sidecar {
			sidecarRestarts += int(cs.RestartCount)
			later(&lastSidecarRestart, cs)
		}

		term, wait := cs.State.Terminated, cs.State.Waiting
		if term != nil && term.ExitCode == 0 {
			continue
		}
		if sidecar && cs.Started != nil && *cs.Started {
			if cs.Ready {
				ready++
			}
			continue
		}
		switch {
		case term != nil:
			switch {
			case term.Reason != "":
				status = "Init:" + term.Reason
			case term.Signal != 0:
				status = fmt.Sprintf("Init:Signal:%d", term.Signal)
			default:
				status = fmt.Sprintf("Init:ExitCode:%d", term.ExitCode)
			}
		case wait != nil && wait.Reason != "" && wait.Reason != "PodInitializing":
			status = "Init:" + wait.Reason
		default:
			status = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podCondition(pod, corev1.PodInitialized) == corev1.ConditionTrue {
		restarts, lastRestart = sidecarRestarts, lastSidecarRestart
		running := false
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			restarts += int(cs.RestartCount)
			later(&lastRestart, cs)
			switch term, wait := cs.State.Terminated, cs.State.Waiting; {
			case wait != nil && wait.Reason != "":
				status = wait.Reason
			case term != nil && term.Reason != "":
				status = term.Reason
			case term != nil && term.Signal != 0:
				status = fmt.Sprintf("Signal:%d", term.Signal)
			case term != nil:
				status = fmt.Sprintf("ExitCode:%d", term.ExitCode)
			case cs.Ready && cs.State.Running != nil:
				running = true
				ready++
			}
		}
		// A container that completed while another still runs does not make the pod Completed.
		if status == "Completed" && running {
			if podCondition(pod, corev1.PodReady) == corev1.ConditionTrue {
				status = "Running"
			} else {
				status = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
		switch {
		case pod.Status.Reason == nodeLostReason:
			status = "Unknown"
		case !terminal:
			status = "Terminating"
		}
	}

	restartCell := strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartCell = fmt.Sprintf("%d (%s ago)", restarts, age(metav1.NewTime(lastRestart)))
	}
	return podSummary{
		ready:    fmt.Sprintf("%d/%d", ready, total),
		status:   status,
		restarts: restartCell,
	}
}

var podTemplateTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Containers", Type: "string", Description: "Names of the containers in the template."},
		{Name: "Images", Type: "string", Description: "Images of the containers in the template."},
		{Name: "Pod Labels", Type: "string", Description: "Labels the template puts on its pods."},
	},
	Row: rowFor(func(t *corev1.PodTemplate) []interface{} {
		names, images := containerCells(t.Template.Spec.Containers)
		return []interface{}{t.Name, names, images, labels.FormatLabels(t.Template.Labels)}
	}),
}

// containerCells lays out the names and images of containers on one line each.
func containerCells(cs []corev1.Container) (names, images string) {
	n := make([]string, len(cs))
	im := make([]string, len(cs))
	for i, c := range cs {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}
