package containerconfig

import (
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
)

// ImageConfig is the part of an OCI image config that shapes a container.
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string // "KEY=value"
	WorkingDir string
	User       string // "", "uid", "name", "uid:gid", "name:group", ...
}

// Sources gives the ConfigMaps and Secrets of the pod's namespace. A missing
// object must be reported with an error for which apierrors.IsNotFound holds.
type Sources interface {
	GetConfigMap(namespace, name string) (*v1.ConfigMap, error)
	GetSecret(namespace, name string) (*v1.Secret, error)
}

// Input is everything Generate needs; only Pod and Container are required.
type Input struct {
	Pod       *v1.Pod
	Container *v1.Container
	Image     ImageConfig
	Sources   Sources
	// Accounts resolves user and group names against the image rootfs
	// (see RootfsAccounts). Without it a non-numeric image USER is an error.
	Accounts Accounts
	// ServiceEnv returns the service-link variables (FOO_SERVICE_HOST, ...)
	// for the pod; owned by the networking side, nil means none.
	ServiceEnv func(pod *v1.Pod) (map[string]string, error)
	// PodIPs and HostIPs override the pod status, which is usually not yet
	// written when the first containers are created.
	PodIPs  []string
	HostIPs []string
	// NodeAllocatable stands in for unset limits in resourceFieldRef, and
	// NodeCapacity's memory scales burstable containers' oom_score_adj.
	NodeAllocatable v1.ResourceList
	NodeCapacity    v1.ResourceList
	// PidsLimit for the container's cgroup; <= 0 means unlimited.
	PidsLimit int64
	// CPUCFSQuotaPeriod defaults to 100 ms; DisableCPUQuota turns limits
	// into shares only, like the kubelet's --cpu-cfs-quota=false.
	CPUCFSQuotaPeriod time.Duration
	DisableCPUQuota   bool
	// PodDir holds the pod-wide files (etc-hosts, hostname, resolv.conf);
	// ContainerDir is unique to this container instance and holds its
	// termination-log. Empty leaves Mount.HostPath empty for the caller.
	PodDir       string
	ContainerDir string
}

// Config is what the runtime needs to create the container.
type Config struct {
	Args       []string
	Env        []string // "KEY=value", image variables first
	WorkingDir string
	User       User

	Privileged      bool
	ReadOnlyRootfs  bool
	NoNewPrivileges bool
	// Capabilities is the bounding/permitted/effective set, "CAP_*" names in
	// kernel number order.
	Capabilities  []string
	MaskedPaths   []string
	ReadonlyPaths []string
	Seccomp       Seccomp

	Resources Resources
	Mounts    []Mount

	Stdin, StdinOnce, TTY bool
	// Warnings are event-worthy problems that did not stop the container.
	Warnings []Warning
}

// User is the identity the container's process runs as.
type User struct {
	UID int64
	GID int64
	// AdditionalGIDs: pod supplementalGroups, fsGroup, then the image's
	// /etc/group memberships of the user; deduplicated.
	AdditionalGIDs []int64
	// Name is the image user name when it was given by name.
	Name string
}

// Seccomp is the effective profile request. Type "" means the pod did not
// ask: the runtime applies the node's default.
type Seccomp struct {
	Type             v1.SeccompProfileType
	LocalhostProfile string
}

// Resources are the container cgroup settings; zero means "not limited".
type Resources struct {
	CPUShares   uint64
	CPUQuota    int64 // microseconds per CPUPeriod
	CPUPeriod   uint64
	MemoryLimit int64
	PidsLimit   int64
	OOMScoreAdj int
}

// MountKind says where a mount's source comes from.
type MountKind string

const (
	MountVolume             MountKind = "Volume"
	MountTerminationMessage MountKind = "TerminationMessage"
	MountEtcHosts           MountKind = "EtcHosts"
	MountEtcHostname        MountKind = "EtcHostname"
	MountResolvConf         MountKind = "ResolvConf"
)

// Mount is one mount in the container. For MountVolume the caller resolves
// Volume (+SubPath) to a host path; the other kinds are single files whose
// content the kubelet writes.
type Mount struct {
	Kind              MountKind
	Volume            string
	ContainerPath     string
	HostPath          string
	SubPath           string
	ReadOnly          bool
	RecursiveReadOnly *v1.RecursiveReadOnlyMode
	Propagation       *v1.MountPropagationMode
}

// Warning is an event the kubelet should record on the pod.
type Warning struct {
	Reason  string
	Message string
}

const (
	// ReasonCreateContainerConfigError is the waiting reason for a container
	// whose configuration cannot be computed (missing ConfigMap, key, ...).
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	// ReasonCreateContainerError is the waiting reason for configurations
	// upstream's runtime rejects at create time (no command, unknown user).
	ReasonCreateContainerError = "CreateContainerError"
	// ReasonInvalidEnvironmentVariableNames is the warning for envFrom keys
	// that were skipped.
	ReasonInvalidEnvironmentVariableNames = "InvalidEnvironmentVariableNames"
)

// Error is a failure to produce a Config; Reason goes into the container's
// waiting state and Message is shown to users verbatim.
type Error struct {
	Reason  string
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

func configError(err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	return &Error{Reason: ReasonCreateContainerConfigError, Message: err.Error(), Err: err}
}

func createError(format string, args ...any) *Error {
	return &Error{Reason: ReasonCreateContainerError, Message: fmt.Sprintf(format, args...)}
}

// Generate computes the container's Config. Every failure is an *Error.
func Generate(in Input) (*Config, error) {
	if in.Pod == nil || in.Container == nil {
		return nil, configError(errors.New("pod and container are required"))
	}
	cfg := &Config{
		Stdin:     in.Container.Stdin,
		StdinOnce: in.Container.StdinOnce,
		TTY:       in.Container.TTY,
	}
	kubeEnv, warnings, err := makeEnv(&in)
	if err != nil {
		return nil, configError(err)
	}
	cfg.Warnings = warnings
	cfg.Env = mergeEnv(in.Image.Env, kubeEnv)

	envMap := make(map[string]string, len(kubeEnv))
	for _, kv := range kubeEnv {
		envMap[kv.name] = kv.value
	}
	cfg.Args, err = makeArgs(in.Container, in.Image, envMap)
	if err != nil {
		return nil, err
	}
	cfg.WorkingDir = in.Container.WorkingDir
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = in.Image.WorkingDir
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = "/"
	}
	if err := applySecurity(&in, cfg); err != nil {
		return nil, err
	}
	cfg.Resources = makeResources(&in)
	cfg.Mounts, err = makeMounts(&in, envMap, cfg.ReadOnlyRootfs)
	if err != nil {
		return nil, configError(err)
	}
	return cfg, nil
}
