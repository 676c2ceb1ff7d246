package volume

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// mountEntry is the part of a /proc/self/mountinfo line this package decides on.
type mountEntry struct {
	MountPoint string
	FSType     string
	// SuperOptions are the filesystem's own options, e.g. "rw,size=1024k" for a tmpfs.
	SuperOptions string
}

// mountInfoPath is a variable so that parsing can be tested on fixed input. It is the calling
// thread's view, not /proc/self's: /proc/self is the main thread, and runc's libcontainer
// leaves whichever thread ran its "mount source" goroutine (it locks the thread, joins the
// container's mount namespace and exits without unlocking) in the container's namespace; when
// that thread is the main one, the runtime cannot kill it, so /proc/self/mountinfo shows a
// container's mounts from then on while mount(2) from every other thread acts on the host's.
var mountInfoPath = "/proc/thread-self/mountinfo"

func readMounts() ([]mountEntry, error) {
	f, err := os.Open(mountInfoPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountInfo(f)
}

func parseMountInfo(f interface{ Read([]byte) (int, error) }) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		// Optional fields sit between the mount point and the " - " separator, so the
		// filesystem type is found from the separator, not by position.
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			return nil, fmt.Errorf("mountinfo: no separator in %q", line)
		}
		fields := strings.Fields(pre)
		postFields := strings.Fields(post)
		if len(fields) < 5 || len(postFields) < 1 {
			return nil, fmt.Errorf("mountinfo: short line %q", line)
		}
		e := mountEntry{MountPoint: unescapeMountPath(fields[4]), FSType: postFields[0]}
		if len(postFields) >= 3 {
			e.SuperOptions = postFields[2]
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// unescapeMountPath undoes the kernel's octal escaping of space, tab, newline and backslash.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// mountsUnder lists the mount points at dir or below it, deepest first so that they can be
// unmounted in that order.
func mountsUnder(dir string) ([]mountEntry, error) {
	all, err := readMounts()
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, m := range all {
		if isWithin(dir, m.MountPoint) {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].MountPoint) > len(out[j].MountPoint) })
	return out, nil
}

// mountedFSType reports the filesystem type mounted at exactly dir, or "" when nothing is.
func mountedFSType(dir string) (string, error) {
	all, err := readMounts()
	if err != nil {
		return "", err
	}
	fsType := ""
	for _, m := range all {
		if m.MountPoint == dir {
			fsType = m.FSType // the last one is the visible one when mounts are stacked
		}
	}
	return fsType, nil
}

func isWithin(root, p string) bool {
	if p == root {
		return true
	}
	return strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/")
}

// unmountAllUnder removes every mount at or below dir. Stacked mounts are unmounted until none
// remains; a busy mount is detached lazily, because the pod is gone and nothing may keep its
// volumes pinned on the host.
func unmountAllUnder(dir string) error {
	for range 100 {
		ms, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			return nil
		}
		for _, m := range ms {
			err := unix.Unmount(m.MountPoint, unix.UMOUNT_NOFOLLOW)
			if errors.Is(err, syscall.EBUSY) {
				err = unix.Unmount(m.MountPoint, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
			}
			if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("unmount %s: %w", m.MountPoint, err)
			}
		}
	}
	return fmt.Errorf("mounts under %s keep coming back", dir)
}

// removeAllNoMounts deletes dir once nothing is mounted below it, so that RemoveAll can never
// walk into a filesystem that is not the pod's.
func removeAllNoMounts(dir string) error {
	ms, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(ms) > 0 {
		return fmt.Errorf("refusing to remove %s: %s is still mounted", dir, ms[0].MountPoint)
	}
	return os.RemoveAll(dir)
}

// realDir resolves symlinks in a directory that may not exist yet, as mountinfo shows only
// resolved paths.
func realDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}
