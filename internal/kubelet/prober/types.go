package prober

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Kind says which of a container's three probes a worker runs.
type Kind int

const (
	Liveness Kind = iota
	Readiness
	Startup
)

// String gives the capitalised name upstream puts at the head of event
// messages ("Liveness probe failed: ...").
func (k Kind) String() string {
	switch k {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	case Startup:
		return "Startup"
	}
	return "Unknown"
}

// Result is the cached verdict of a probe for one container instance.
type Result int

const (
	// Unknown is the startup probe's state before its first verdict.
	Unknown Result = iota
	Success
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// Update is sent whenever a container's cached result for one probe kind
// changes (including the initial value set for a new container instance).
type Update struct {
	Kind          Kind
	PodUID        types.UID
	ContainerName string
	// ContainerID is the status form ("<runtime>://<id>").
	ContainerID string
	Result      Result
	// Output is what the probe that settled the result reported.
	Output string
	// Kill is set when a liveness or startup probe crossed its failure
	// threshold: the kubelet must kill the container (and restart it as the
	// restart policy says), with KillMessage on its Killing event and
	// GracePeriodSeconds (the probe's terminationGracePeriodSeconds) if set,
	// otherwise the pod's. See KillGracePeriod.
	Kill               bool
	KillMessage        string
	GracePeriodSeconds *int64
}

// Event is what the kubelet should record about the container, shaped like
// a core/v1 event so it maps one to one onto record.EventRecorder.
type Event struct {
	PodUID        types.UID
	Namespace     string
	PodName       string
	ContainerName string
	// FieldPath names the container in the involved object the way upstream
	// does, e.g. "spec.containers{app}".
	FieldPath string
	Type      string // v1.EventTypeWarning
	Reason    string // ReasonUnhealthy or ReasonProbeWarning
	Message   string
}

const (
	ReasonUnhealthy    = "Unhealthy"
	ReasonProbeWarning = "ProbeWarning"
)

// ContainerExecer runs a command inside a running container and waits for
// it. A timeout must be reported as an error wrapping
// context.DeadlineExceeded; a command that ran and exited non-zero is not an
// error (exitCode says it).
type ContainerExecer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int, err error)
}

// PodStatusProvider gives the latest status the kubelet knows for a pod
// (containers' IDs, running state, start times, pod IP).
type PodStatusProvider interface {
	GetPodStatus(uid types.UID) (v1.PodStatus, bool)
}

// KillGracePeriod is the grace period the kubelet uses when it kills a
// container because of p: the probe's own terminationGracePeriodSeconds wins
// over the pod's, and the API default (30 s) applies when neither is set.
func KillGracePeriod(pod *v1.Pod, p *v1.Probe) int64 {
	if p != nil && p.TerminationGracePeriodSeconds != nil {
		return *p.TerminationGracePeriodSeconds
	}
	if pod != nil && pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return v1.DefaultTerminationGracePeriodSeconds
}
