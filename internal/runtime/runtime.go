package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Runtime is what the kubelet needs from a container runtime. Every method is safe for concurrent
// use. IDs are opaque to callers.
type Runtime interface {
	// RunPodSandbox creates and starts the pod's infra process holding its namespaces and returns
	// the sandbox ID. The sandbox is Ready when it returns.
	RunPodSandbox(ctx context.Context, cfg *SandboxConfig) (string, error)
	// StopPodSandbox kills every container of the sandbox and its infra process. Idempotent.
	StopPodSandbox(ctx context.Context, id string) error
	// RemovePodSandbox stops the sandbox if needed and removes it with its containers. Removing an
	// unknown sandbox is not an error.
	RemovePodSandbox(ctx context.Context, id string) error
	PodSandboxStatus(ctx context.Context, id string) (*SandboxStatus, error)
	ListPodSandbox(ctx context.Context, filter *SandboxFilter) ([]*SandboxStatus, error)

	// CreateContainer prepares a container in a sandbox; it does not run until StartContainer.
	CreateContainer(ctx context.Context, sandboxID string, cfg *ContainerConfig) (string, error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM, waits up to timeout for the container to exit, then sends
	// SIGKILL and waits for the exit. Stopping a container that is not running is not an error.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// RemoveContainer kills the container if it still runs and removes everything it holds on the
	// host except its log file. Removing an unknown container is not an error.
	RemoveContainer(ctx context.Context, id string) error
	ContainerStatus(ctx context.Context, id string) (*ContainerStatus, error)
	ListContainers(ctx context.Context, filter *ContainerFilter) ([]*ContainerStatus, error)
	// ReopenContainerLog makes the log writer reopen the container's log path, after the kubelet
	// rotated the file by renaming it.
	ReopenContainerLog(ctx context.Context, id string) error

	// ExecSync runs cmd in a running container and returns its output and exit code. When timeout
	// (> 0) passes first, the process is killed and the result has TimedOut set.
	ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (*ExecResult, error)
	// Exec runs a process in a running container with the caller's streams and returns its exit
	// code once it ends and its output is copied.
	Exec(ctx context.Context, id string, req *ExecRequest) (int, error)
	// Attach connects the caller's streams to a running container's own process (see
	// AttachRequest) and returns once the session ends: the container ended (its output is
	// copied), ctx ended (the client went away), or the client's stdin reached EOF for a
	// container without StdinOnce or with a TTY (a detach). Output the container wrote before
	// the call is not replayed (it is in the log). A slow caller may miss output rather than
	// slow the container's logging down.
	Attach(ctx context.Context, id string, req *AttachRequest) error

	// Close releases this instance. Containers keep running; a new instance over the same state
	// adopts them.
	Close() error
}

// RootfsSource hands a runtime an image's unpacked layers as overlayfs lower dirs, uppermost
// first (the order of the lowerdir= option), and its configuration. The image store
// (internal/runtime/image) provides it; the kubelet adapts its config type to ImageConfig.
type RootfsSource interface {
	Mounts(image string) (lowerDirs []string, cfg ImageConfig, err error)
}

// ImageConfig is the part of an OCI image configuration a runtime applies to a container.
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string // KEY=VALUE
	WorkingDir string
	User       string // "uid[:gid]"; names are not resolved
	// ID is the image's content ID (config digest), reported as the container's ImageRef.
	ID string
}

// SandboxConfig describes a pod's sandbox.
type SandboxConfig struct {
	Name, Namespace, UID string
	Attempt              uint32
	Hostname             string
	Labels, Annotations  map[string]string

	HostNetwork bool
	HostPID     bool
	HostIPC     bool
	// ShareProcessNamespace puts every container of the pod in one PID namespace whose PID 1 is
	// the infra process.
	ShareProcessNamespace bool

	// CgroupParent is the pod's cgroup, relative to the cgroup mount points (for example
	// "/skiff-node1/pod<uid>"). Containers' cgroups are created below it.
	CgroupParent string
	// ResolvConfPath and HostsPath, when set, are files the kubelet wrote that every container of
	// the sandbox sees as /etc/resolv.conf and /etc/hosts.
	ResolvConfPath string
	HostsPath      string
}

// SandboxState is a sandbox's lifecycle state.
type SandboxState string

const (
	SandboxReady    SandboxState = "Ready"
	SandboxNotReady SandboxState = "NotReady"
)

// SandboxStatus is what the runtime knows of a sandbox.
type SandboxStatus struct {
	ID                   string
	Name, Namespace, UID string
	Attempt              uint32
	State                SandboxState
	CreatedAt            time.Time
	// Pid of the infra process (0 once it ended).
	Pid int
	// NetNSPath is the path of the pod's network namespace, "" for hostNetwork pods. The pod
	// network plugs its interface in through it.
	NetNSPath           string
	Hostname            string
	CgroupParent        string
	HostNetwork         bool
	Labels, Annotations map[string]string
}

// SandboxFilter selects sandboxes; empty fields match everything.
type SandboxFilter struct {
	ID    string
	State SandboxState
	// Labels must all match.
	Labels map[string]string
}

// ContainerConfig describes a container. Command and Args have the meaning of a pod's container
// fields (see ResolveArgs); Env entries are KEY=VALUE and override the image's.
type ContainerConfig struct {
	Name       string
	Attempt    uint32
	Image      string
	Command    []string
	Args       []string
	Env        []string
	WorkingDir string
	// User overrides the image's user when set.
	User *User

	Mounts    []Mount
	Resources Resources
	Security  Security

	// LogPath is the CRI-format log file of the container's stdout and stderr. Its directory
	// must exist.
	LogPath             string
	Labels, Annotations map[string]string

	// Stdin gives the container a standard input that attached callers write to; without it
	// the container reads /dev/null. StdinOnce closes that input (the container reads EOF)
	// once the first attach session given an input ends, however it ends. TTY runs the container on a
	// terminal: its output is one stream (logged as stdout), its input the terminal's, and
	// StdinOnce does not apply (a terminal is not closed).
	Stdin, StdinOnce, TTY bool
}

// User is a numeric identity.
type User struct {
	UID, GID       uint32
	AdditionalGIDs []uint32
}

// Mount binds a host path into a container.
type Mount struct {
	HostPath      string
	ContainerPath string
	ReadOnly      bool
	// Propagation: "" (private), "rslave" or "rshared".
	Propagation string
}

// Resources are cgroup limits. Zero means unset.
type Resources struct {
	CPUShares   uint64
	CPUQuota    int64 // microseconds per CPUPeriod
	CPUPeriod   uint64
	MemoryLimit int64 // bytes
	PidsLimit   int64
	// OOMScoreAdj is applied when the host allows it (a host may refuse negative values).
	OOMScoreAdj int
}

// Security is a container's security context.
type Security struct {
	Privileged      bool
	CapAdd, CapDrop []string // "NET_ADMIN" or "CAP_NET_ADMIN"; "ALL" in CapDrop drops every default
	ReadOnlyRootfs  bool
	NoNewPrivileges bool
	// MaskedPaths and ReadonlyPaths replace the runtime's defaults when non-nil (an empty, non-nil
	// slice means none: the Unmasked proc mount).
	MaskedPaths   []string
	ReadonlyPaths []string
	// SeccompUnconfined disables the runtime's default seccomp profile.
	SeccompUnconfined bool
}

// ContainerState is a container's lifecycle state.
type ContainerState string

const (
	ContainerCreated ContainerState = "Created"
	ContainerRunning ContainerState = "Running"
	ContainerExited  ContainerState = "Exited"
	ContainerUnknown ContainerState = "Unknown"
)

// Reasons a container exited, as the kubelet reports them.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
)

// ContainerStatus is what the runtime knows of a container.
type ContainerStatus struct {
	ID, SandboxID string
	Name          string
	Attempt       uint32
	Image         string
	ImageRef      string
	State         ContainerState
	Pid           int
	ExitCode      int
	CreatedAt     time.Time
	StartedAt     time.Time
	FinishedAt    time.Time
	// Reason is set once the container exited: Completed, Error or OOMKilled.
	Reason              string
	Message             string
	LogPath             string
	Labels, Annotations map[string]string
}

// ContainerFilter selects containers; empty fields match everything.
type ContainerFilter struct {
	ID        string
	SandboxID string
	State     ContainerState
	Labels    map[string]string
}

// ExecResult is the outcome of ExecSync.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int
	TimedOut       bool
}

// ExecRequest is a process to run in a container with the caller's streams. Nil streams are
// /dev/null. With TTY, Stderr is unused (the terminal merges the two) and Resize may carry size
// changes until the process ends.
type ExecRequest struct {
	Cmd    []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	TTY    bool
	Resize <-chan TerminalSize
}

// AttachRequest is a caller's streams for Attach. Nil streams are not connected. Stdin reaches
// the container only when it was created with Stdin. With a container created with TTY, all its
// output goes to Stdout and Resize may carry size changes of its terminal; TTY says the caller
// wants a terminal (Stderr is then unused), as ExecRequest's does, but it is the container's
// own setting that decides whether there is one.
type AttachRequest struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	TTY    bool
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Width, Height uint16
}

// Error categories; implementations wrap them so callers test with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrFailedPrecondition: the object is not in a state allowing the call (start a running
	// container, exec in a stopped one, create in a stopped sandbox).
	ErrFailedPrecondition = errors.New("failed precondition")
)
