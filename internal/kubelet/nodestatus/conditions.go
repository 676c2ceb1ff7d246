package nodestatus

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConditionHostSettingsRefused is the condition that lists the settings the host refused (a
// negative oom_score_adj in a sandboxed VM, a sysctl it does not allow). It follows
// node-problem-detector's convention for permanent host problems: a condition whose True status
// means the problem is present, with the details in its message. It is absent while nothing was
// refused. Nothing schedules or evicts by it: it is there for `kubectl describe node`.
const ConditionHostSettingsRefused corev1.NodeConditionType = "HostSettingsRefused"

// ReasonHostSettingsRefused is the reason of ConditionHostSettingsRefused.
const ReasonHostSettingsRefused = "HostRefusedSettings"

// conditionText holds upstream's reason and message for each status of a kubelet-owned condition,
// and the event recorded when the condition turns to that status.
type conditionText struct {
	reason, message, event string
}

// The pressure conditions mean "problem present" when True.
var pressureTexts = map[corev1.NodeConditionType][2]conditionText{
	corev1.NodeMemoryPressure: {
		{"KubeletHasSufficientMemory", "kubelet has sufficient memory available", "NodeHasSufficientMemory"},
		{"KubeletHasInsufficientMemory", "kubelet has insufficient memory available", "NodeHasInsufficientMemory"},
	},
	corev1.NodeDiskPressure: {
		{"KubeletHasNoDiskPressure", "kubelet has no disk pressure", "NodeHasNoDiskPressure"},
		{"KubeletHasDiskPressure", "kubelet has disk pressure", "NodeHasDiskPressure"},
	},
	corev1.NodePIDPressure: {
		{"KubeletHasSufficientPID", "kubelet has sufficient PID available", "NodeHasSufficientPID"},
		{"KubeletHasInsufficientPID", "kubelet has insufficient PID available", "NodeHasInsufficientPID"},
	},
}

const (
	reasonReady    = "KubeletReady"
	messageReady   = "kubelet is posting ready status"
	reasonNotReady = "KubeletNotReady"
)

// setCondition updates the condition of type typ in place, or appends it. The heartbeat moves on
// every call; the transition time only when the status flips (or the condition is new), which is
// what `kubectl describe node` and the node lifecycle controller read. It reports whether the
// status flipped, so that callers can record an event.
func setCondition(status *corev1.NodeStatus, typ corev1.NodeConditionType, st corev1.ConditionStatus, reason, message string, now metav1.Time) bool {
	for i := range status.Conditions {
		c := &status.Conditions[i]
		if c.Type != typ {
			continue
		}
		flipped := c.Status != st
		if flipped {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.LastHeartbeatTime = st, reason, message, now
		return flipped
	}
	status.Conditions = append(status.Conditions, corev1.NodeCondition{
		Type: typ, Status: st, Reason: reason, Message: message,
		LastHeartbeatTime: now, LastTransitionTime: now,
	})
	return true
}

func removeCondition(status *corev1.NodeStatus, typ corev1.NodeConditionType) {
	status.Conditions = slices.DeleteFunc(status.Conditions, func(c corev1.NodeCondition) bool { return c.Type == typ })
}

// pressureState remembers when a signal was last over its threshold, so that a condition stays on
// for the transition period after the signal recovers (upstream's eviction manager does the same
// to keep the scheduler from bouncing pods onto a node at the edge).
type pressureState struct {
	lastObserved map[corev1.NodeConditionType]time.Time
}

// observe records the current signals and returns which pressure conditions are on.
func (p *pressureState) observe(now time.Time, period time.Duration, signals map[corev1.NodeConditionType]bool) map[corev1.NodeConditionType]bool {
	if p.lastObserved == nil {
		p.lastObserved = map[corev1.NodeConditionType]time.Time{}
	}
	out := map[corev1.NodeConditionType]bool{}
	for typ := range pressureTexts {
		if signals[typ] {
			p.lastObserved[typ] = now
		}
		last, seen := p.lastObserved[typ]
		out[typ] = seen && now.Sub(last) < period
	}
	return out
}

// setPressureConditions writes the three pressure conditions in upstream's order and returns the
// events for the ones that changed.
func setPressureConditions(status *corev1.NodeStatus, on map[corev1.NodeConditionType]bool, now metav1.Time) []string {
	var events []string
	for _, typ := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		txt, st := pressureTexts[typ][0], corev1.ConditionFalse
		if on[typ] {
			txt, st = pressureTexts[typ][1], corev1.ConditionTrue
		}
		if setCondition(status, typ, st, txt.reason, txt.message, now) {
			events = append(events, txt.event)
		}
	}
	return events
}

// setReadyCondition sets Ready from the problems found; it returns the event when Ready flips.
func setReadyCondition(status *corev1.NodeStatus, problems []error, now metav1.Time) []string {
	st, reason, message, event := corev1.ConditionTrue, reasonReady, messageReady, "NodeReady"
	if len(problems) > 0 {
		st, reason, message, event = corev1.ConditionFalse, reasonNotReady, aggregate(problems), "NodeNotReady"
	}
	if setCondition(status, corev1.NodeReady, st, reason, message, now) {
		return []string{event}
	}
	return nil
}

// aggregate formats several errors the way upstream's aggregate error does, which is what users
// see in the Ready message: one error as itself, several as "[a, b]".
func aggregate(errs []error) string {
	if len(errs) == 1 {
		return errs[0].Error()
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return "[" + strings.Join(msgs, ", ") + "]"
}

// missingCapacity is upstream's readiness precondition: a node that cannot say how much CPU,
// memory and pods it has must not be scheduled to.
func missingCapacity(capacity corev1.ResourceList) error {
	var missing []string
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		if _, ok := capacity[r]; !ok {
			missing = append(missing, string(r))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("missing node capacity for resources: %s", strings.Join(missing, ", "))
}

// setHostNotesCondition reflects the refused settings. Sorted by setting so that the message is
// stable and an unchanged set of notes causes no write.
func setHostNotesCondition(status *corev1.NodeStatus, notes map[string]string, now metav1.Time) {
	if len(notes) == 0 {
		removeCondition(status, ConditionHostSettingsRefused)
		return
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(notes)) {
		parts = append(parts, k+": "+notes[k])
	}
	setCondition(status, ConditionHostSettingsRefused, corev1.ConditionTrue, ReasonHostSettingsRefused, strings.Join(parts, "; "), now)
}
