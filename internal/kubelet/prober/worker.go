package prober

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
)

// maxErrorRetries is how many times a probe that could not be run at all
// (as opposed to one that ran and failed) is retried within one period.
const maxErrorRetries = 3

type workerKey struct {
	uid       string
	container string
	kind      Kind
}

// worker owns one probe of one container of one pod. Its state is touched
// only by its own goroutine (or by tests calling doProbe directly).
type worker struct {
	m         *Manager
	key       workerKey
	container v1.Container
	init      bool // the container is a (restartable) init container
	spec      *v1.Probe
	cancel    context.CancelFunc
	trigger   chan struct{}
	done      chan struct{}

	containerID string
	lastResult  Result
	resultRun   int
	// onHold stops probing after this worker asked for a kill, until the
	// container is replaced (a new container ID shows up).
	onHold bool
}

func (w *worker) period() time.Duration {
	if w.spec.PeriodSeconds <= 0 {
		return 10 * time.Second
	}
	return time.Duration(w.spec.PeriodSeconds) * time.Second
}

func (w *worker) successThreshold() int {
	// The API forces 1 for liveness and startup; honour that even when the
	// object bypassed validation.
	if w.spec.SuccessThreshold <= 0 || w.key.kind != Readiness {
		return 1
	}
	return int(w.spec.SuccessThreshold)
}

func (w *worker) failureThreshold() int {
	if w.spec.FailureThreshold <= 0 {
		return 3
	}
	return int(w.spec.FailureThreshold)
}

// initialResult is what a fresh container instance starts with: not ready
// until proven, alive until proven otherwise, startup undecided.
func (w *worker) initialResult() Result {
	switch w.key.kind {
	case Readiness:
		return Failure
	case Liveness:
		return Success
	}
	return Unknown
}

func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	defer w.m.workerExited(w)
	ticker := w.m.clock.NewTicker(w.period())
	defer ticker.Stop()
	for w.doProbe(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		case <-w.trigger:
		}
	}
}

func (w *worker) update(result Result, output string) Update {
	return Update{
		Kind:          w.key.kind,
		PodUID:        w.m.podUID(w.key.uid),
		ContainerName: w.container.Name,
		ContainerID:   w.containerID,
		Result:        result,
		Output:        output,
	}
}

func findStatus(st *v1.PodStatus, name string, init bool) *v1.ContainerStatus {
	list := st.ContainerStatuses
	if init {
		list = st.InitContainerStatuses
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

// doProbe runs one probe round and reports whether the worker should keep
// going.
func (w *worker) doProbe(ctx context.Context) bool {
	pod, ok := w.m.pod(w.key.uid)
	if !ok {
		return false
	}
	st, ok := w.m.statuses.GetPodStatus(pod.UID)
	if !ok {
		return true // the kubelet has not reported this pod yet
	}
	if st.Phase == v1.PodFailed || st.Phase == v1.PodSucceeded {
		return false
	}
	cs := findStatus(&st, w.container.Name, w.init)
	if cs == nil || cs.ContainerID == "" {
		return true
	}
	if w.containerID != cs.ContainerID {
		if w.containerID != "" {
			w.m.results.remove(w.key.kind, w.containerID)
		}
		w.containerID = cs.ContainerID
		w.lastResult, w.resultRun, w.onHold = Unknown, 0, false
		w.m.results.set(ctx, w.update(w.initialResult(), ""))
	}
	if w.onHold {
		return true
	}
	if cs.State.Running == nil {
		w.m.results.set(ctx, w.update(Failure, ""))
		// A container that will never run again needs no prober.
		return cs.State.Terminated == nil || pod.Spec.RestartPolicy != v1.RestartPolicyNever
	}
	// A pod being deleted is shut down by its grace period, not by probes:
	// liveness and startup go quiet; readiness keeps running so endpoints
	// follow the container as it drains.
	if pod.DeletionTimestamp != nil && w.key.kind != Readiness {
		w.m.results.set(ctx, w.update(Success, ""))
		return false
	}
	if w.m.clock.Since(cs.State.Running.StartedAt.Time) < time.Duration(w.spec.InitialDelaySeconds)*time.Second {
		return true
	}
	started := w.m.started(pod, &w.container, w.containerID)
	if w.key.kind == Startup && started {
		return true // kept alive for the next container instance
	}
	if w.key.kind != Startup && !started {
		return true
	}

	result, output := w.probeOnce(ctx, pod, &st)
	if ctx.Err() != nil {
		return false
	}
	if result == w.lastResult {
		w.resultRun++
	} else {
		w.lastResult, w.resultRun = result, 1
	}
	if (result == Failure && w.resultRun < w.failureThreshold()) ||
		(result == Success && w.resultRun < w.successThreshold()) {
		return true
	}
	u := w.update(result, output)
	if result == Failure && w.key.kind != Readiness {
		u.Kill = true
		u.KillMessage = fmt.Sprintf("Container %s failed %s probe, will be restarted", w.container.Name, map[Kind]string{Liveness: "liveness", Startup: "startup"}[w.key.kind])
		u.GracePeriodSeconds = w.spec.TerminationGracePeriodSeconds
		w.onHold, w.resultRun = true, 0
	}
	w.m.results.set(ctx, u)
	if result == Success && w.key.kind == Startup {
		w.m.triggerReadiness(w.key.uid, w.container.Name)
	}
	return true
}

// probeOnce runs the probe, retrying executions that errored, and emits the
// event upstream would record for the outcome.
func (w *worker) probeOnce(ctx context.Context, pod *v1.Pod, st *v1.PodStatus) (Result, string) {
	var (
		v   verdict
		out string
		err error
	)
	for i := 0; i < maxErrorRetries; i++ {
		v, out, err = w.m.checker.run(ctx, w.spec, &w.container, st, w.containerID)
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	kind := w.key.kind
	switch {
	case err != nil:
		w.m.emit(pod, &w.container, w.init, ReasonUnhealthy, fmt.Sprintf("%s probe errored and resulted in %s state: %s", kind, "unknown", err))
		return Failure, err.Error()
	case v == vWarning:
		w.m.emit(pod, &w.container, w.init, ReasonProbeWarning, fmt.Sprintf("%s probe warning: %s", kind, out))
		return Success, out
	case v == vFailure:
		w.m.emit(pod, &w.container, w.init, ReasonUnhealthy, fmt.Sprintf("%s probe failed: %s", kind, out))
		return Failure, out
	}
	return Success, out
}
