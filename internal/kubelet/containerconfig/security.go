package containerconfig

import (
	"fmt"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// defaultCapabilities is Docker's (and containerd's) default set, which
// Kubernetes containers start from.
var defaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// allCapabilities lists the kernel's capabilities in number order.
var allCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

var capNumber = func() map[string]int {
	m := make(map[string]int, len(allCapabilities))
	for i, c := range allCapabilities {
		m[c] = i
	}
	return m
}()

// DefaultMaskedPaths and DefaultReadonlyPaths hide or freeze the parts of
// /proc and /sys that leak host information or allow host changes.
var (
	DefaultMaskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
	DefaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// capName normalises a Kubernetes capability ("NET_ADMIN", case-insensitive)
// to the kernel name.
func capName(s string) string {
	s = strings.ToUpper(s)
	if !strings.HasPrefix(s, "CAP_") {
		s = "CAP_" + s
	}
	return s
}

// capabilities applies add/drop over the default set in the order
// containerd does: add ALL, drop ALL, then individual adds, then individual
// drops, so a capability both added and dropped ends up dropped.
func capabilities(caps *v1.Capabilities) ([]string, []Warning) {
	set := map[string]bool{}
	for _, c := range defaultCapabilities {
		set[c] = true
	}
	var warnings []Warning
	if caps != nil {
		has := func(list []v1.Capability) bool {
			for _, c := range list {
				if strings.EqualFold(string(c), "ALL") {
					return true
				}
			}
			return false
		}
		if has(caps.Add) {
			for _, c := range allCapabilities {
				set[c] = true
			}
		}
		if has(caps.Drop) {
			clear(set)
		}
		apply := func(list []v1.Capability, v bool) {
			for _, c := range list {
				if strings.EqualFold(string(c), "ALL") {
					continue
				}
				n := capName(string(c))
				if _, ok := capNumber[n]; !ok {
					// runc ignores capabilities the kernel or it does not know;
					// say so rather than fail the pod.
					warnings = append(warnings, Warning{Reason: "UnknownCapability", Message: fmt.Sprintf("unknown capability %q ignored", string(c))})
					continue
				}
				if v {
					set[n] = true
				} else {
					delete(set, n)
				}
			}
		}
		apply(caps.Add, true)
		apply(caps.Drop, false)
	}
	out := make([]string, 0, len(set))
	for _, c := range allCapabilities {
		if set[c] {
			out = append(out, c)
		}
	}
	return out, warnings
}

// parseImageUser splits the image's "user[:group]".
func parseImageUser(s string) (user, group string) {
	user, group, _ = strings.Cut(s, ":")
	return user, group
}

func formatPod(pod *v1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// applySecurity fills the identity and privilege fields of cfg.
func applySecurity(in *Input, cfg *Config) error {
	pod, c := in.Pod, in.Container
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &v1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &v1.SecurityContext{}
	}
	runAsUser, runAsGroup, runAsNonRoot := psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
	if sc.RunAsUser != nil {
		runAsUser = sc.RunAsUser
	}
	if sc.RunAsGroup != nil {
		runAsGroup = sc.RunAsGroup
	}
	if sc.RunAsNonRoot != nil {
		runAsNonRoot = sc.RunAsNonRoot
	}

	imgUser, imgGroup := parseImageUser(in.Image.User)
	// The identity upstream checks runAsNonRoot against: an explicit
	// runAsUser, else the image's numeric user; a named image user cannot be
	// verified.
	if runAsNonRoot != nil && *runAsNonRoot {
		switch {
		case runAsUser != nil && *runAsUser == 0:
			return configError(fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", formatPod(pod), c.Name))
		case runAsUser != nil:
		case imgUser == "":
			return configError(fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", formatPod(pod), c.Name))
		default:
			uid, err := strconv.ParseInt(imgUser, 10, 64)
			if err != nil {
				return configError(fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", imgUser, formatPod(pod), c.Name))
			}
			if uid == 0 {
				return configError(fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", formatPod(pod), c.Name))
			}
		}
	}

	u, err := resolveUser(in.Accounts, runAsUser, runAsGroup, imgUser, imgGroup)
	if err != nil {
		return err
	}
	u.AdditionalGIDs = appendUnique(u.AdditionalGIDs, psc.SupplementalGroups...)
	if psc.FSGroup != nil {
		u.AdditionalGIDs = appendUnique(u.AdditionalGIDs, *psc.FSGroup)
	}
	if in.Accounts != nil && (psc.SupplementalGroupsPolicy == nil || *psc.SupplementalGroupsPolicy == v1.SupplementalGroupsPolicyMerge) {
		name := u.Name
		if name == "" {
			if a, ok, err := in.Accounts.User(strconv.FormatInt(u.UID, 10)); err == nil && ok {
				name = a.Name
			}
		}
		if name != "" {
			gids, err := in.Accounts.MemberOf(name)
			if err != nil {
				return createError("failed to read groups of user %q: %v", name, err)
			}
			u.AdditionalGIDs = appendUnique(u.AdditionalGIDs, gids...)
		}
	}
	cfg.User = u

	cfg.Privileged = sc.Privileged != nil && *sc.Privileged
	cfg.ReadOnlyRootfs = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	if cfg.Privileged {
		cfg.Capabilities = append([]string(nil), allCapabilities...)
	} else {
		var w []Warning
		cfg.Capabilities, w = capabilities(sc.Capabilities)
		cfg.Warnings = append(cfg.Warnings, w...)
		if sc.ProcMount == nil || *sc.ProcMount != v1.UnmaskedProcMount {
			cfg.MaskedPaths = append([]string(nil), DefaultMaskedPaths...)
			cfg.ReadonlyPaths = append([]string(nil), DefaultReadonlyPaths...)
		}
	}
	// Escalation stays allowed unless explicitly refused; privileged and
	// CAP_SYS_ADMIN containers can escalate anyway, so validation forbids
	// refusing it for them and we never set the flag there.
	sysAdmin := false
	for _, c := range cfg.Capabilities {
		if c == "CAP_SYS_ADMIN" {
			sysAdmin = true
		}
	}
	cfg.NoNewPrivileges = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation && !cfg.Privileged && !sysAdmin

	prof := psc.SeccompProfile
	if sc.SeccompProfile != nil {
		prof = sc.SeccompProfile
	}
	switch {
	case cfg.Privileged:
		cfg.Seccomp = Seccomp{Type: v1.SeccompProfileTypeUnconfined}
	case prof != nil:
		cfg.Seccomp = Seccomp{Type: prof.Type}
		if prof.LocalhostProfile != nil {
			cfg.Seccomp.LocalhostProfile = *prof.LocalhostProfile
		}
	}
	return nil
}

func appendUnique(list []int64, add ...int64) []int64 {
	for _, g := range add {
		dup := false
		for _, have := range list {
			if have == g {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, g)
		}
	}
	return list
}

// resolveUser picks uid and gid: securityContext over the image; a named
// user or group is looked up in the image; a uid without a group takes the
// primary group its passwd entry names, or 0.
func resolveUser(acc Accounts, runAsUser, runAsGroup *int64, imgUser, imgGroup string) (User, error) {
	var u User
	primaryGID := func(key string) (int64, error) {
		if acc == nil {
			return 0, nil
		}
		a, ok, err := acc.User(key)
		if err != nil {
			return 0, createError("failed to look up user %q: %v", key, err)
		}
		if !ok {
			return 0, nil
		}
		return a.GID, nil
	}
	if runAsUser != nil {
		u.UID = *runAsUser
		if runAsGroup != nil {
			u.GID = *runAsGroup
			return u, nil
		}
		gid, err := primaryGID(strconv.FormatInt(u.UID, 10))
		u.GID = gid
		return u, err
	}
	gidSet := false
	if imgUser != "" {
		if uid, err := strconv.ParseInt(imgUser, 10, 64); err == nil {
			u.UID = uid
		} else {
			if acc == nil {
				return u, createError("unable to find user %s: no accounts lookup for the image", imgUser)
			}
			a, ok, err := acc.User(imgUser)
			if err != nil {
				return u, createError("unable to find user %s: %v", imgUser, err)
			}
			if !ok {
				return u, createError("unable to find user %s: no matching entries in passwd file", imgUser)
			}
			u.UID, u.GID, u.Name, gidSet = a.UID, a.GID, imgUser, true
		}
	}
	switch {
	case runAsGroup != nil:
		u.GID = *runAsGroup
	case imgGroup != "":
		if gid, err := strconv.ParseInt(imgGroup, 10, 64); err == nil {
			u.GID = gid
			break
		}
		if acc == nil {
			return u, createError("unable to find group %s: no accounts lookup for the image", imgGroup)
		}
		gid, ok, err := acc.Group(imgGroup)
		if err != nil {
			return u, createError("unable to find group %s: %v", imgGroup, err)
		}
		if !ok {
			return u, createError("unable to find group %s: no matching entries in group file", imgGroup)
		}
		u.GID = gid
	case !gidSet:
		gid, err := primaryGID(strconv.FormatInt(u.UID, 10))
		if err != nil {
			return u, err
		}
		u.GID = gid
	}
	return u, nil
}
