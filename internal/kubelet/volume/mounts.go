package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Mount is one bind mount the runtime makes into a container.
type Mount struct {
	// Source is the host path: a volume's directory, or a pinned subPath of it.
	Source string
	// Destination is the path inside the container (volumeMounts[].mountPath).
	Destination string
	ReadOnly    bool
	Propagation corev1.MountPropagationMode
	// Options are the OCI runtime-spec mount options that say all of the above:
	// "rbind", "ro" or "rw", and "rprivate", "rslave" or "rshared".
	Options []string
}

// ContainerMounts turns c's volumeMounts into bind mounts, given the host paths SetUp returned
// and c's environment (for subPathExpr). configMap, secret, downwardAPI and projected volumes
// are always read-only. A subPath is resolved inside its volume, following symlinks only while
// they stay inside, created as a directory when missing (as upstream does), and pinned by a bind
// mount under <pod>/volume-subpaths/<volume>/<container>/<index>: the container is handed the pin,
// so a later symlink swap inside the volume cannot redirect it. Pins are removed by TearDown.
func (m *Manager) ContainerMounts(pod *corev1.Pod, c *corev1.Container, volumePaths map[string]string, env map[string]string) ([]Mount, error) {
	vols := make(map[string]*corev1.Volume, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	out := make([]Mount, 0, len(c.VolumeMounts))
	for i, vm := range c.VolumeMounts {
		vol, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: no volume of that name in the pod", vm.Name)
		}
		src, ok := volumePaths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: volume is not set up", vm.Name)
		}
		if vm.MountPath == "" {
			return nil, fmt.Errorf("volumeMount %q: mountPath is empty", vm.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			if sub != "" {
				return nil, fmt.Errorf("volumeMount %q: subPath and subPathExpr are mutually exclusive", vm.Name)
			}
			sub = expandVars(vm.SubPathExpr, env)
		}
		ro := vm.ReadOnly || readOnlyToPod(vol)
		if vm.RecursiveReadOnly != nil && *vm.RecursiveReadOnly == corev1.RecursiveReadOnlyEnabled {
			return nil, fmt.Errorf("volumeMount %q: recursiveReadOnly: Enabled is not supported by this node", vm.Name)
		}
		prop := corev1.MountPropagationNone
		if vm.MountPropagation != nil {
			prop = *vm.MountPropagation
		}
		var propOpt string
		switch prop {
		case corev1.MountPropagationNone:
			propOpt = "rprivate"
		case corev1.MountPropagationHostToContainer:
			propOpt = "rslave"
		case corev1.MountPropagationBidirectional:
			if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
				return nil, fmt.Errorf("volumeMount %q: Bidirectional mount propagation is available only to privileged containers", vm.Name)
			}
			propOpt = "rshared"
		default:
			return nil, fmt.Errorf("volumeMount %q: invalid mountPropagation %q", vm.Name, prop)
		}
		if sub != "" {
			pinned, err := m.pinSubPath(pod.UID, vm.Name, c.Name, i, src, sub)
			if err != nil {
				return nil, fmt.Errorf("volumeMount %q: %w", vm.Name, err)
			}
			src = pinned
		}
		rw := "rw"
		if ro {
			rw = "ro"
		}
		out = append(out, Mount{
			Source: src, Destination: vm.MountPath, ReadOnly: ro, Propagation: prop,
			Options: []string{"rbind", rw, propOpt},
		})
	}
	return out, nil
}

// expandVars replaces $(NAME) by env's value as the kubelet does for commands: $$ is a literal
// $, and a reference to an unknown name stays as written.
func expandVars(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// maxSymlinks bounds symlink resolution as the kernel's ELOOP limit does.
const maxSymlinks = 40

// openInVolume opens sub below root with O_PATH, resolving every component itself: symlinks are
// followed only when relative and only while the walk stays inside root; missing components are
// created as directories with the root's mode. The returned descriptor pins what it names.
func openInVolume(root, sub string) (*os.File, error) {
	if path.IsAbs(sub) || filepath.IsAbs(sub) {
		return nil, fmt.Errorf("subPath %q must be a relative path", sub)
	}
	for _, seg := range strings.Split(sub, "/") {
		if seg == ".." {
			return nil, fmt.Errorf("subPath %q must not contain '..'", sub)
		}
	}
	rootInfo, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !rootInfo.IsDir() {
		return nil, fmt.Errorf("subPath %q: volume %s is not a directory", sub, root)
	}
	perm := uint32(rootInfo.Mode().Perm())

	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	cur := rootFd
	var stack []string // components of cur below root, each a real directory when visited
	closeCur := func() {
		if cur != rootFd {
			unix.Close(cur)
		}
	}
	defer unix.Close(rootFd)
	escape := func() error { return fmt.Errorf("subPath %q escapes its volume", sub) }

	todo := strings.Split(sub, "/")
	hops := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			// Only symlink targets bring backsteps; they may not climb above the root.
			if len(stack) == 0 {
				closeCur()
				return nil, escape()
			}
			stack = stack[:len(stack)-1]
			closeCur()
			cur = rootFd
			next, err := walkDirs(rootFd, stack)
			if err != nil {
				return nil, fmt.Errorf("subPath %q: %w", sub, err)
			}
			cur = next
			continue
		}
		fd, err := unix.Openat(cur, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(cur, name, perm); err != nil && !errors.Is(err, unix.EEXIST) {
				closeCur()
				return nil, fmt.Errorf("subPath %q: create %s: %w", sub, name, err)
			}
			// Mkdirat honours the umask; the subPath gets the volume's own mode.
			_ = unix.Fchmodat(cur, name, perm, 0)
			fd, err = unix.Openat(cur, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			closeCur()
			return nil, fmt.Errorf("subPath %q: open %s: %w", sub, name, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			closeCur()
			return nil, err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			buf := make([]byte, unix.PathMax)
			n, err := unix.Readlinkat(fd, "", buf)
			unix.Close(fd)
			if err != nil {
				closeCur()
				return nil, fmt.Errorf("subPath %q: readlink %s: %w", sub, name, err)
			}
			target := string(buf[:n])
			if hops++; hops > maxSymlinks {
				closeCur()
				return nil, fmt.Errorf("subPath %q: too many levels of symbolic links", sub)
			}
			if path.IsAbs(target) {
				// An absolute target means a path in the container's view, which the host
				// would resolve against its own root.
				closeCur()
				return nil, escape()
			}
			todo = append(strings.Split(target, "/"), todo...)
		case unix.S_IFDIR:
			closeCur()
			cur = fd
			stack = append(stack, name)
		default:
			if len(todo) > 0 {
				unix.Close(fd)
				closeCur()
				return nil, fmt.Errorf("subPath %q: %s is not a directory", sub, name)
			}
			closeCur()
			cur = fd
			stack = append(stack, name)
		}
	}
	if cur == rootFd {
		return nil, fmt.Errorf("subPath %q names the volume itself", sub)
	}
	return os.NewFile(uintptr(cur), filepath.Join(append([]string{root}, stack...)...)), nil
}

// walkDirs reopens the directory stack below root without following anything, so that a
// directory swapped for a symlink since it was first visited is refused.
func walkDirs(rootFd int, stack []string) (int, error) {
	cur := rootFd
	for _, name := range stack {
		fd, err := unix.Openat(cur, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if cur != rootFd {
			unix.Close(cur)
		}
		if err != nil {
			return -1, fmt.Errorf("reopen %s: %w", name, err)
		}
		cur = fd
	}
	return cur, nil
}

// pinSubPath bind-mounts sub of the volume at root onto a fixed place below the pod directory and
// returns that place.
func (m *Manager) pinSubPath(uid types.UID, volume, container string, index int, root, sub string) (string, error) {
	if err := validName("container name", container); err != nil {
		return "", err
	}
	f, err := openInVolume(root, sub)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", err
	}
	target := filepath.Join(m.PodDir(uid), "volume-subpaths", volume, container, strconv.Itoa(index))
	// A pin from an earlier start of the container may name what the subPath used to be.
	if err := unmountAllUnder(target); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return "", err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if info, err := os.Lstat(target); err == nil && info.IsDir() != isDir {
		if err := os.RemoveAll(target); err != nil {
			return "", err
		}
	}
	if isDir {
		if err := os.Mkdir(target, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	} else {
		t, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return "", err
		}
		t.Close()
	}
	src := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return "", fmt.Errorf("pin subPath %q: %w", sub, err)
	}
	return target, nil
}
