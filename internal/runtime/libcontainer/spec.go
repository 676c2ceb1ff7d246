package libcontainer

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
	_ "github.com/opencontainers/cgroups/devices" // device rules for the cgroup managers
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-dev/skiff/internal/runtime"
)

// defaultCaps is the capability set of an unprivileged container, as containerd and Docker give it.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func allCaps() []string {
	var out []string
	for _, c := range capability.ListKnown() {
		out = append(out, "CAP_"+strings.ToUpper(c.String()))
	}
	return out
}

func capName(c string) string {
	c = strings.ToUpper(c)
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// capabilities computes a container's set from the defaults, drops and adds ("ALL" drops all).
func capabilities(sec runtime.Security) []string {
	if sec.Privileged {
		return allCaps()
	}
	caps := slices.Clone(defaultCaps)
	for _, d := range sec.CapDrop {
		if strings.EqualFold(d, "ALL") {
			caps = nil
			continue
		}
		d = capName(d)
		caps = slices.DeleteFunc(caps, func(c string) bool { return c == d })
	}
	for _, a := range sec.CapAdd {
		if strings.EqualFold(a, "ALL") {
			caps = allCaps()
			continue
		}
		if a = capName(a); !slices.Contains(caps, a) {
			caps = append(caps, a)
		}
	}
	return caps
}

// nsPaths are the namespaces a container joins, from its sandbox's infra process.
type nsPaths struct {
	net, ipc, uts, pid string
}

// containerSpec is the OCI runtime spec of an app container. It starts from runc's defaults
// (mounts, masked and read-only paths) and adds the container's settings.
func containerSpec(cfg *runtime.ContainerConfig, rootfs, cgroupsPath, shmDir string, ns nsPaths, sbx *sandboxRecord, seccompOn bool) *specs.Spec {
	base := specconv.Example()
	caps := capabilities(cfg.Security)
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs, Readonly: cfg.Security.ReadOnlyRootfs},
		Process: &specs.Process{
			NoNewPrivileges: cfg.Security.NoNewPrivileges && !cfg.Security.Privileged,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1048576, Soft: 1048576}},
		},
		Linux: &specs.Linux{
			CgroupsPath: cgroupsPath,
			Resources:   &specs.LinuxResources{},
		},
	}
	if cfg.Resources.OOMScoreAdj != 0 {
		s.Process.OOMScoreAdj = ptr(cfg.Resources.OOMScoreAdj)
	}

	// Mounts: runc's defaults, /dev/shm from the sandbox, the pod's files, then the container's.
	for _, m := range base.Mounts {
		switch m.Destination {
		case "/dev/shm":
			if shmDir != "" {
				m = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: shmDir, Options: []string{"rbind", "nosuid", "noexec", "nodev"}}
			}
		case "/sys":
			if cfg.Security.Privileged {
				m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
			}
		case "/sys/fs/cgroup":
			continue // the host's cgroup tree is none of a pod's business
		}
		s.Mounts = append(s.Mounts, m)
	}
	bindFile := func(src, dst string) {
		if src != "" {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}})
		}
	}
	bindFile(sbx.ResolvConfPath, "/etc/resolv.conf")
	bindFile(sbx.HostsPath, "/etc/hosts")
	if !sbx.HostNetwork {
		bindFile(sbx.hostnameFile, "/etc/hostname")
	}
	for _, m := range cfg.Mounts {
		opts := []string{"rbind"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		switch m.Propagation {
		case "rslave", "rshared":
			opts = append(opts, m.Propagation)
		default:
			opts = append(opts, "rprivate")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: m.ContainerPath, Type: "bind", Source: m.HostPath, Options: opts})
	}

	// Namespaces: a private mount namespace, the sandbox's others.
	s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	join := func(t specs.LinuxNamespaceType, p string) {
		if p != "" {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t, Path: p})
		}
	}
	join(specs.NetworkNamespace, ns.net)
	join(specs.IPCNamespace, ns.ipc)
	join(specs.UTSNamespace, ns.uts)
	switch {
	case ns.pid != "":
		join(specs.PIDNamespace, ns.pid)
	case !sbx.HostPID:
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}

	if !cfg.Security.Privileged {
		s.Linux.MaskedPaths = base.Linux.MaskedPaths
		s.Linux.ReadonlyPaths = base.Linux.ReadonlyPaths
		if cfg.Security.MaskedPaths != nil {
			s.Linux.MaskedPaths = cfg.Security.MaskedPaths
		}
		if cfg.Security.ReadonlyPaths != nil {
			s.Linux.ReadonlyPaths = cfg.Security.ReadonlyPaths
		}
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		if seccompOn && !cfg.Security.SeccompUnconfined {
			s.Linux.Seccomp = defaultSeccomp(caps)
		}
	} else {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}

	r := cfg.Resources
	cpu := &specs.LinuxCPU{}
	if r.CPUShares > 0 {
		cpu.Shares = ptr(r.CPUShares)
	}
	if r.CPUQuota > 0 {
		cpu.Quota = ptr(r.CPUQuota)
		period := r.CPUPeriod
		if period == 0 {
			period = 100000
		}
		cpu.Period = ptr(period)
	}
	s.Linux.Resources.CPU = cpu
	if r.MemoryLimit > 0 {
		// No swap beyond the limit, so that the limit is what OOM-kills.
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(r.MemoryLimit), Swap: ptr(r.MemoryLimit)}
	}
	if r.PidsLimit > 0 {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(r.PidsLimit)}
	}
	return s
}

// pauseSpec is the infra process's spec: the pod's namespaces, no capabilities, and a read-only
// root holding only what runs the skiff binary (bound in as /pause) — the host's library
// directories — since a pause image would be one more thing to pull.
func pauseSpec(sbx *sandboxRecord, rootfs, cgroupsPath, exe string) *specs.Spec {
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs, Readonly: true},
		Process: &specs.Process{NoNewPrivileges: true, Capabilities: &specs.LinuxCapabilities{}},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "mode=755", "size=64k"}},
			{Destination: "/pause", Type: "bind", Source: exe, Options: []string{"bind", "ro", "nosuid", "nodev"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: cgroupsPath,
			Namespaces:  []specs.LinuxNamespace{{Type: specs.MountNamespace}},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
		},
	}
	for _, d := range []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache"} {
		if _, err := os.Stat(d); err == nil {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: d, Type: "bind", Source: d, Options: []string{"rbind", "ro", "nosuid", "nodev"}})
		}
	}
	if !sbx.HostNetwork {
		s.Hostname = sbx.Hostname
		s.Linux.Namespaces = append(s.Linux.Namespaces,
			specs.LinuxNamespace{Type: specs.NetworkNamespace}, specs.LinuxNamespace{Type: specs.UTSNamespace})
	}
	if !sbx.HostIPC {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}
	if sbx.ShareProcessNamespace && !sbx.HostPID {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}
	return s
}

func toConfig(id string, s *specs.Spec) (*configs.Config, error) {
	c, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: id, Spec: s, NoNewKeyring: true})
	if err != nil {
		return nil, fmt.Errorf("container config: %w", err)
	}
	return c, nil
}

func cgroupPath(parent, id string) string {
	return path.Join("/", parent, id)
}
