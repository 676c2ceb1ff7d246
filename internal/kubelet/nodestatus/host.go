package nodestatus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// host reads the facts a Node reports about the machine. Every path is under root so that tests
// read testdata trees instead of the live /proc, /sys and /etc.
type host struct {
	root   string
	numCPU func() int
	statfs func(path string) (fsStats, error)
}

func newHost(root string) *host {
	if root == "" {
		root = "/"
	}
	return &host{root: root, numCPU: runtime.NumCPU, statfs: statfsPath}
}

func (h *host) path(p string) string { return filepath.Join(h.root, p) }

// fsStats is the part of statfs(2) that capacity and disk pressure need.
type fsStats struct {
	CapacityBytes  int64
	AvailableBytes int64 // free to unprivileged users, as df shows
	Inodes         int64
	InodesFree     int64
}

func statfsPath(path string) (fsStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fsStats{}, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	bs := int64(st.Bsize)
	return fsStats{
		CapacityBytes:  int64(st.Blocks) * bs,
		AvailableBytes: int64(st.Bavail) * bs,
		Inodes:         int64(st.Files),
		InodesFree:     int64(st.Ffree),
	}, nil
}

// memInfo is what /proc/meminfo says, in bytes.
type memInfo struct {
	Total     int64
	Available int64
	SwapTotal int64
}

func (h *host) memInfo() (memInfo, error) {
	data, err := os.ReadFile(h.path("proc/meminfo"))
	if err != nil {
		return memInfo{}, err
	}
	return parseMemInfo(data)
}

// parseMemInfo reads "Key:   value kB" lines. MemAvailable is the kernel's own estimate of what can
// be allocated without swapping, the closest host-wide stand-in for upstream's memory.available
// (capacity minus working set) that needs no cgroup walk.
func parseMemInfo(data []byte) (memInfo, error) {
	var m memInfo
	var haveTotal, haveAvail bool
	var free int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return memInfo{}, fmt.Errorf("meminfo %s: %w", key, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		switch key {
		case "MemTotal":
			m.Total, haveTotal = v, true
		case "MemAvailable":
			m.Available, haveAvail = v, true
		case "MemFree":
			free = v
		case "SwapTotal":
			m.SwapTotal = v
		}
	}
	if !haveTotal {
		return memInfo{}, errors.New("meminfo has no MemTotal")
	}
	if !haveAvail {
		// Kernels before 3.14 lack MemAvailable; MemFree undercounts but never invents memory.
		m.Available = free
	}
	return m, sc.Err()
}

// hugePages returns the bytes reserved per huge page size, keyed by the page size in bytes, for
// every size the kernel supports (the directories under /sys/kernel/mm/hugepages).
func (h *host) hugePages() map[int64]int64 {
	entries, err := os.ReadDir(h.path("sys/kernel/mm/hugepages"))
	if err != nil {
		return nil
	}
	out := map[int64]int64{}
	for _, e := range entries {
		sizeStr, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		sizeStr, ok = strings.CutSuffix(sizeStr, "kB")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(sizeStr, 10, 64)
		if err != nil {
			continue
		}
		var n int64
		if b, err := os.ReadFile(filepath.Join(h.path("sys/kernel/mm/hugepages"), e.Name(), "nr_hugepages")); err == nil {
			n, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		}
		out[kb*1024] = n * kb * 1024
	}
	return out
}

// pidStats is the host's process-table usage: how many tasks exist and how many may.
type pidStats struct {
	Max     int64
	Running int64
}

// pids reads the limit from kernel.pid_max and kernel.threads-max (the lower one bites first) and
// the number of tasks from the fourth field of /proc/loadavg ("running/total"), which counts threads
// as the pid allocator does, without walking /proc.
func (h *host) pids() (pidStats, error) {
	var st pidStats
	for _, f := range []string{"proc/sys/kernel/pid_max", "proc/sys/kernel/threads-max"} {
		b, err := os.ReadFile(h.path(f))
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err == nil && v > 0 && (st.Max == 0 || v < st.Max) {
			st.Max = v
		}
	}
	if st.Max == 0 {
		return pidStats{}, errors.New("no pid limit in /proc/sys/kernel")
	}
	b, err := os.ReadFile(h.path("proc/loadavg"))
	if err != nil {
		return pidStats{}, err
	}
	fields := strings.Fields(string(b))
	if len(fields) < 4 {
		return pidStats{}, fmt.Errorf("loadavg: %q has no task counts", b)
	}
	_, total, ok := strings.Cut(fields[3], "/")
	if !ok {
		return pidStats{}, fmt.Errorf("loadavg: bad task field %q", fields[3])
	}
	st.Running, err = strconv.ParseInt(total, 10, 64)
	if err != nil {
		return pidStats{}, fmt.Errorf("loadavg: %w", err)
	}
	return st, nil
}

// systemInfo is the host's part of status.nodeInfo.
type systemInfo struct {
	MachineID     string
	SystemUUID    string
	BootID        string
	KernelVersion string
	OSImage       string
	SwapBytes     int64
}

func (h *host) firstLine(paths ...string) string {
	for _, p := range paths {
		if b, err := os.ReadFile(h.path(p)); err == nil {
			if s := strings.TrimSpace(string(b)); s != "" {
				return s
			}
		}
	}
	return ""
}

func (h *host) systemInfo() systemInfo {
	si := systemInfo{
		MachineID: h.firstLine("etc/machine-id", "var/lib/dbus/machine-id"),
		// The firmware's UUID; VMs without DMI (this one) expose none, as upstream reports then.
		SystemUUID:    strings.ToLower(h.firstLine("sys/class/dmi/id/product_uuid", "proc/device-tree/vm,uuid", "proc/device-tree/system-id")),
		BootID:        h.firstLine("proc/sys/kernel/random/boot_id"),
		KernelVersion: h.firstLine("proc/sys/kernel/osrelease"),
		OSImage:       "Linux",
	}
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if b, err := os.ReadFile(h.path(p)); err == nil {
			if pretty := prettyName(b); pretty != "" {
				si.OSImage = pretty
			}
			break
		}
	}
	if m, err := h.memInfo(); err == nil {
		si.SwapBytes = m.SwapTotal
	}
	return si
}

// prettyName returns PRETTY_NAME from an os-release file, unquoted as the format allows
// (double quotes, single quotes or none, with backslash escapes inside double quotes).
func prettyName(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "PRETTY_NAME=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
			return u
		}
		return strings.Trim(v, `'"`)
	}
	return ""
}
