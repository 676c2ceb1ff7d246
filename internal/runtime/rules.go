package runtime

import (
	"fmt"
	"strconv"
	"strings"
)

// ResolveArgs combines a container's command and args with its image's entrypoint and cmd the way
// Kubernetes defines it: command replaces the entrypoint and drops the image's cmd; args replace
// the image's cmd; with neither, the image's entrypoint and cmd run.
func ResolveArgs(command, args []string, img ImageConfig) []string {
	var out []string
	switch {
	case len(command) > 0:
		out = append(out, command...)
		out = append(out, args...)
	case len(args) > 0:
		out = append(out, img.Entrypoint...)
		out = append(out, args...)
	default:
		out = append(out, img.Entrypoint...)
		out = append(out, img.Cmd...)
	}
	return out
}

// MergeEnv returns the image's environment overridden by the container's, in first-seen order,
// later entries of one name winning.
func MergeEnv(image, container []string) []string {
	idx := map[string]int{}
	var out []string
	for _, list := range [][]string{image, container} {
		for _, kv := range list {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// ParseImageUser reads an image's "uid[:gid]" user. Names need the image's /etc/passwd and are
// refused: the kubelet passes numeric users (runAsUser), which override the image's.
func ParseImageUser(s string) (*User, error) {
	if s == "" {
		return nil, nil
	}
	us, gs, hasGroup := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("image user %q: only numeric users are supported", s)
	}
	u := &User{UID: uint32(uid)}
	if hasGroup {
		gid, err := strconv.ParseUint(gs, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("image user %q: only numeric groups are supported", s)
		}
		u.GID = uint32(gid)
	}
	return u, nil
}

// ExitReason is the reason reported for a container that exited with code, OOM-killed or not.
func ExitReason(code int, oomKilled bool) string {
	switch {
	case oomKilled:
		return ReasonOOMKilled
	case code == 0:
		return ReasonCompleted
	default:
		return ReasonError
	}
}

// Matches reports whether a sandbox passes the filter.
func (f *SandboxFilter) Matches(s *SandboxStatus) bool {
	if f == nil {
		return true
	}
	return (f.ID == "" || f.ID == s.ID) && (f.State == "" || f.State == s.State) && labelsMatch(f.Labels, s.Labels)
}

// Matches reports whether a container passes the filter.
func (f *ContainerFilter) Matches(c *ContainerStatus) bool {
	if f == nil {
		return true
	}
	return (f.ID == "" || f.ID == c.ID) && (f.SandboxID == "" || f.SandboxID == c.SandboxID) &&
		(f.State == "" || f.State == c.State) && labelsMatch(f.Labels, c.Labels)
}

func labelsMatch(want, have map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}
