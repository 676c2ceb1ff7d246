package kubelet

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/kubelet/podcgroups"
	"github.com/skiff-dev/skiff/internal/runtime"
)

// Waiting reasons and condition reasons, as upstream reports them.
const (
	reasonContainerCreating  = "ContainerCreating"
	reasonPodInitializing    = "PodInitializing"
	reasonCrashLoopBackOff   = "CrashLoopBackOff"
	reasonErrImagePull       = "ErrImagePull"
	reasonImagePullBackOff   = "ImagePullBackOff"
	reasonErrImageNeverPull  = "ErrImageNeverPull"
	reasonInvalidImageName   = "InvalidImageName"
	reasonContainersNotReady = "ContainersNotReady"
	reasonNotInitialized     = "ContainersNotInitialized"
	reasonPodCompleted       = "PodCompleted"
	reasonGatesNotReady      = "ReadinessGatesNotReady"

	// containerIDPrefix is the runtime name in status container IDs ("skiff://<id>").
	containerIDPrefix = "skiff://"
)

// podRuntime is what the runtime holds for one pod: its current sandbox and every container
// instance by name, newest attempt first.
type podRuntime struct {
	sandbox    *runtime.SandboxStatus
	containers map[string][]*runtime.ContainerStatus
}

func (p *podRuntime) latest(name string) *runtime.ContainerStatus {
	if l := p.containers[name]; len(l) > 0 {
		return l[0]
	}
	return nil
}

func sortInstances(m map[string][]*runtime.ContainerStatus) {
	for _, l := range m {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Attempt != l[j].Attempt {
				return l[i].Attempt > l[j].Attempt
			}
			return l[i].CreatedAt.After(l[j].CreatedAt)
		})
	}
}

// statusInput is everything a pod's status is computed from.
type statusInput struct {
	pod *v1.Pod
	rt  *podRuntime
	// waiting overrides the state of containers the agent holds back (back-offs, pull errors,
	// config errors), by container name.
	waiting map[string]*v1.ContainerStateWaiting
	// sandboxReady: the sandbox runs and its network is configured.
	sandboxReady bool
	podIPs       []string
	hostIP       string
	now          time.Time
	// image returns status.image and status.imageID for an instance; termMessage its
	// termination message. Both may be nil.
	image       func(spec *v1.Container, c *runtime.ContainerStatus) (string, string)
	termMessage func(spec *v1.Container, c *runtime.ContainerStatus) string
	// probe fills Ready and Started from the probe results (prober.Manager.UpdatePodStatus).
	probe func(pod *v1.Pod, st *v1.PodStatus)
}

func isSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// computeStatus derives the pod's status from the runtime's view, the way upstream's kubelet
// does; timestamps of unchanged conditions are kept from the pod's current status.
func computeStatus(in statusInput) v1.PodStatus {
	pod := in.pod
	old := pod.Status
	st := v1.PodStatus{
		HostIP:    in.hostIP,
		StartTime: old.StartTime,
		QOSClass:  old.QOSClass,
	}
	if st.QOSClass == "" {
		st.QOSClass = podcgroups.Class(pod) // a static pod: no API server classified it
	}
	if in.hostIP != "" {
		st.HostIPs = []v1.HostIP{{IP: in.hostIP}}
	}
	ips := in.podIPs
	if pod.Spec.HostNetwork && in.hostIP != "" {
		ips = []string{in.hostIP}
	}
	if len(ips) > 0 {
		st.PodIP = ips[0]
		for _, ip := range ips {
			st.PodIPs = append(st.PodIPs, v1.PodIP{IP: ip})
		}
	} else if old.PodIP != "" && in.rt.sandbox != nil {
		st.PodIP, st.PodIPs = old.PodIP, old.PodIPs
	}
	if st.StartTime == nil {
		t := metav1.NewTime(in.now)
		st.StartTime = &t
	}

	initDone := initContainersDone(pod, in.rt)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		def := reasonPodInitializing
		st.InitContainerStatuses = append(st.InitContainerStatuses, containerStatus(&in, c, def))
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		def := reasonContainerCreating
		if !initDone {
			def = reasonPodInitializing
		}
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(&in, c, def))
	}
	if in.probe != nil {
		in.probe(pod, &st)
	} else {
		defaultReadiness(pod, &st)
	}

	st.Phase = podPhase(pod, &st, initDone)
	if old.Phase == v1.PodSucceeded || old.Phase == v1.PodFailed {
		st.Phase = old.Phase // terminal phases never change
	}
	if st.Phase == v1.PodSucceeded || st.Phase == v1.PodFailed {
		for i := range st.ContainerStatuses {
			st.ContainerStatuses[i].Ready = false
		}
	}
	st.Conditions = podConditions(pod, &st, in.sandboxReady, initDone, in.now)
	return st
}

// defaultReadiness stands in for the prober: started and ready once running.
func defaultReadiness(pod *v1.Pod, st *v1.PodStatus) {
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		running := cs.State.Running != nil
		cs.Started = &running
		cs.Ready = running
	}
	for i := range st.InitContainerStatuses {
		cs := &st.InitContainerStatuses[i]
		cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
	}
}

// initContainersDone says whether the pod is past its init containers: each ran to success
// (a sidecar: is running), or an app container already started (instances of init containers
// may have been removed since).
func initContainersDone(pod *v1.Pod, rt *podRuntime) bool {
	for i := range pod.Spec.Containers {
		if rt.latest(pod.Spec.Containers[i].Name) != nil {
			return true
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		l := rt.latest(c.Name)
		if l == nil {
			return false
		}
		if isSidecar(c) {
			if l.State != runtime.ContainerRunning {
				return false
			}
			continue
		}
		if l.State != runtime.ContainerExited || l.ExitCode != 0 {
			return false
		}
	}
	return true
}

func runtimeState(in *statusInput, spec *v1.Container, c *runtime.ContainerStatus) v1.ContainerState {
	switch c.State {
	case runtime.ContainerCreated:
		return v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: reasonContainerCreating}}
	case runtime.ContainerRunning:
		return v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(c.StartedAt)}}
	}
	t := &v1.ContainerStateTerminated{
		ExitCode: int32(c.ExitCode), Reason: c.Reason, Message: c.Message,
		StartedAt: metav1.NewTime(c.StartedAt), FinishedAt: metav1.NewTime(c.FinishedAt),
		ContainerID: containerIDPrefix + c.ID,
	}
	if c.State == runtime.ContainerUnknown {
		t.Reason, t.ExitCode = "ContainerStatusUnknown", 137
		t.Message = "The container could not be located when the pod was terminated"
	}
	if t.Reason == "" {
		t.Reason = runtime.ExitReason(c.ExitCode, false)
	}
	if in.termMessage != nil {
		if m := in.termMessage(spec, c); m != "" {
			t.Message = m
		}
	}
	return v1.ContainerState{Terminated: t}
}

func containerStatus(in *statusInput, spec *v1.Container, defWaiting string) v1.ContainerStatus {
	cs := v1.ContainerStatus{Name: spec.Name, Image: spec.Image}
	waiting := in.waiting[spec.Name]
	instances := in.rt.containers[spec.Name]
	if len(instances) == 0 {
		if waiting == nil {
			waiting = &v1.ContainerStateWaiting{Reason: defWaiting}
		}
		cs.State.Waiting = waiting
		return cs
	}
	cur := instances[0]
	cs.RestartCount = int32(cur.Attempt)
	cs.ContainerID = containerIDPrefix + cur.ID
	if in.image != nil {
		cs.Image, cs.ImageID = in.image(spec, cur)
	}
	state := runtimeState(in, spec, cur)
	if waiting != nil && cur.State == runtime.ContainerExited {
		// A restart is held back: the instance that ended is the last state.
		cs.State = v1.ContainerState{Waiting: waiting}
		cs.LastTerminationState = state
		return cs
	}
	cs.State = state
	if len(instances) > 1 {
		if prev := runtimeState(in, spec, instances[1]); prev.Terminated != nil {
			cs.LastTerminationState = prev
		}
	}
	return cs
}

// podPhase reproduces upstream's phase rules: init containers hold the pod Pending (or fail it
// under restartPolicy Never); then waiting containers keep it Pending, running ones make it
// Running, and once all have stopped the restart policy decides between Running (they will be
// restarted), Succeeded and Failed.
func podPhase(pod *v1.Pod, st *v1.PodStatus, initDone bool) v1.PodPhase {
	if !initDone {
		for i, cs := range st.InitContainerStatuses {
			if isSidecar(&pod.Spec.InitContainers[i]) {
				continue
			}
			t := cs.State.Terminated
			if t == nil && cs.State.Waiting != nil {
				t = cs.LastTerminationState.Terminated
			}
			if t != nil && t.ExitCode != 0 && pod.Spec.RestartPolicy == v1.RestartPolicyNever {
				return v1.PodFailed
			}
		}
		return v1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, cs := range st.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return v1.PodPending
	case running > 0:
		return v1.PodRunning
	case stopped > 0:
		if pod.Spec.RestartPolicy == v1.RestartPolicyAlways {
			return v1.PodRunning
		}
		if stopped == succeeded {
			return v1.PodSucceeded
		}
		if pod.Spec.RestartPolicy == v1.RestartPolicyNever {
			return v1.PodFailed
		}
		return v1.PodRunning
	}
	return v1.PodPending
}

func condition(t v1.PodConditionType, ok bool, reason, msg string) v1.PodCondition {
	s := v1.ConditionFalse
	if ok {
		s = v1.ConditionTrue
	}
	return v1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg}
}

// kubeletConditions are the condition types this agent owns; others (readiness gates,
// DisruptionTarget) are kept as the API has them.
var kubeletConditions = []v1.PodConditionType{
	v1.PodScheduled, v1.PodReadyToStartContainers, v1.PodInitialized, v1.ContainersReady, v1.PodReady,
}

func podConditions(pod *v1.Pod, st *v1.PodStatus, sandboxReady, initDone bool, now time.Time) []v1.PodCondition {
	terminal := st.Phase == v1.PodSucceeded || st.Phase == v1.PodFailed
	var conds []v1.PodCondition
	conds = append(conds, condition(v1.PodReadyToStartContainers, sandboxReady && !terminal, "", ""))

	initCond := condition(v1.PodInitialized, true, "", "")
	if !initDone {
		var pending []string
		for i, cs := range st.InitContainerStatuses {
			if isSidecar(&pod.Spec.InitContainers[i]) {
				if cs.Started == nil || !*cs.Started {
					pending = append(pending, cs.Name)
				}
				continue
			}
			if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
				pending = append(pending, cs.Name)
			}
		}
		if len(pending) > 0 {
			initCond = condition(v1.PodInitialized, false, reasonNotInitialized,
				fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(pending, " ")))
		}
	} else if st.Phase == v1.PodSucceeded && len(pod.Spec.InitContainers) > 0 {
		initCond.Reason = reasonPodCompleted
	}
	conds = append(conds, initCond)

	var unready []string
	for i, cs := range st.InitContainerStatuses {
		if isSidecar(&pod.Spec.InitContainers[i]) && !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	var cr, ready v1.PodCondition
	switch {
	case st.Phase == v1.PodSucceeded:
		cr = condition(v1.ContainersReady, false, reasonPodCompleted, "")
		ready = condition(v1.PodReady, false, reasonPodCompleted, "")
	case len(unready) > 0:
		msg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		cr = condition(v1.ContainersReady, false, reasonContainersNotReady, msg)
		ready = condition(v1.PodReady, false, reasonContainersNotReady, msg)
	default:
		cr = condition(v1.ContainersReady, true, "", "")
		ready = condition(v1.PodReady, true, "", "")
		if msg := gatesNotReady(pod); msg != "" {
			ready = condition(v1.PodReady, false, reasonGatesNotReady, msg)
		}
	}
	conds = append(conds, cr, ready)

	scheduled := condition(v1.PodScheduled, true, "", "")
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled {
			scheduled = c
		}
	}
	scheduled.Status = v1.ConditionTrue
	conds = append([]v1.PodCondition{scheduled}, conds...)

	// Conditions other components own stay; transition times move only on a change.
	for _, c := range pod.Status.Conditions {
		if !slices.Contains(kubeletConditions, c.Type) {
			conds = append(conds, c)
		}
	}
	for i := range conds {
		c := &conds[i]
		if !slices.Contains(kubeletConditions, c.Type) {
			continue
		}
		c.LastTransitionTime = metav1.NewTime(now)
		for _, o := range pod.Status.Conditions {
			if o.Type == c.Type && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		c.LastProbeTime = metav1.Time{}
	}
	return conds
}

// gatesNotReady returns why the pod's readiness gates hold it unready, or "".
func gatesNotReady(pod *v1.Pod) string {
	for _, g := range pod.Spec.ReadinessGates {
		found := false
		for _, c := range pod.Status.Conditions {
			if c.Type != g.ConditionType {
				continue
			}
			found = true
			if c.Status != v1.ConditionTrue {
				return fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %s", g.ConditionType, c.Status)
			}
		}
		if !found {
			return fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType)
		}
	}
	return ""
}
