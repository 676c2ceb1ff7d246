package libcontainer

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// mountinfo is the calling thread's view of mounts. Not /proc/self: that is the main thread's,
// and libcontainer may leave the main thread wedged in a container's mount namespace (a locked
// goroutine that joined one and exited).
const mountinfo = "/proc/thread-self/mountinfo"

// cgroupMounts lists the mount points of every cgroup hierarchy (v1 and v2) of this host.
func cgroupMounts() []string {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && (fields[i+1] == "cgroup" || fields[i+1] == "cgroup2") {
				out = append(out, fields[4])
			}
		}
	}
	return out
}

// removeCgroup removes the (empty) cgroup rel from every hierarchy: libcontainer creates a
// container's parents but removes only the container's own cgroup.
func removeCgroup(rel string) {
	for _, mp := range cgroupMounts() {
		os.Remove(filepath.Join(mp, rel))
	}
}
