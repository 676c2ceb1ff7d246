package containerconfig

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/skiff-dev/skiff/internal/kubelet/expansion"
)

// expandSubPath resolves subPathExpr. Unlike command and args, a reference
// to an unset or empty variable is an error: a silently shortened subPath
// would mount the wrong directory.
func expandSubPath(expr string, env map[string]string) (string, error) {
	var missing []string
	out := expansion.Expand(expr, func(name string) (string, bool) {
		v, ok := env[name]
		if !ok || v == "" {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
		}
		return v, true
	})
	if len(missing) > 0 {
		slices.Sort(missing)
		return "", fmt.Errorf("missing value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func hasBacksteps(p string) bool {
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

func join(dir, name string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, name)
}

func makeMounts(in *Input, env map[string]string, readOnlyRoot bool) ([]Mount, error) {
	c := in.Container
	var mounts []Mount
	mounted := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			var err error
			if sub, err = expandSubPath(vm.SubPathExpr, env); err != nil {
				return nil, err
			}
		}
		if sub != "" {
			if path.IsAbs(sub) || filepath.IsAbs(sub) {
				return nil, fmt.Errorf("error SubPath `%s` must not be an absolute path", sub)
			}
			if hasBacksteps(sub) {
				return nil, fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", sub)
			}
		}
		mounts = append(mounts, Mount{
			Kind: MountVolume, Volume: vm.Name, ContainerPath: vm.MountPath, SubPath: sub,
			ReadOnly: vm.ReadOnly, RecursiveReadOnly: vm.RecursiveReadOnly, Propagation: vm.MountPropagation,
		})
		mounted[path.Clean(vm.MountPath)] = true
	}
	// The node-managed files yield to a user's own mount at the same path.
	add := func(kind MountKind, target, host string, ro bool) {
		if target == "" || mounted[path.Clean(target)] {
			return
		}
		mounts = append(mounts, Mount{Kind: kind, ContainerPath: target, HostPath: host, ReadOnly: ro})
		mounted[path.Clean(target)] = true
	}
	add(MountTerminationMessage, c.TerminationMessagePath, join(in.ContainerDir, "termination-log"), false)
	add(MountEtcHosts, "/etc/hosts", join(in.PodDir, "etc-hosts"), readOnlyRoot)
	add(MountEtcHostname, "/etc/hostname", join(in.PodDir, "hostname"), readOnlyRoot)
	add(MountResolvConf, "/etc/resolv.conf", join(in.PodDir, "resolv.conf"), readOnlyRoot)
	return mounts, nil
}
