package podcgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/kubelet/containerconfig"
)

// Hierarchy is one cgroupfs mount.
type Hierarchy struct {
	// Path is where it is mounted.
	Path string
	// Controllers are the v1 controllers mounted there ("cpu", "cpuacct"); empty for a named
	// hierarchy or the unified mount of a hybrid host.
	Controllers []string
	// Unified marks the cgroup v2 mount; its controllers are read from cgroup.controllers.
	Unified bool
}

// Config says where pod cgroups go.
type Config struct {
	// Root is the node's cgroup (relative to the mounts, absolute: "/skiff-n1").
	Root string
	// Hierarchies are the cgroupfs mounts; nil means the host's, read from mountinfo.
	Hierarchies []Hierarchy
}

// Manager creates, limits and removes pod cgroups.
type Manager struct {
	root  string
	hs    []Hierarchy
	v2    bool
	cpu   string // directory of the hierarchy holding the cpu controller ("" if none)
	mem   string
	v2Ctl []string // controllers a v2 host offers that pod cgroups use
}

// Tiers of the QoS layout, below Root.
const (
	Kubepods   = "kubepods"
	Burstable  = "burstable"
	BestEffort = "besteffort"
)

const (
	minShares   = 2
	maxShares   = 262144
	cfsPeriodUs = 100000
)

// New checks the layout it is given (or finds the host's).
func New(cfg Config) (*Manager, error) {
	if !strings.HasPrefix(cfg.Root, "/") || strings.Contains(cfg.Root, "..") {
		return nil, fmt.Errorf("podcgroups: root %q must be an absolute cgroup path", cfg.Root)
	}
	hs := cfg.Hierarchies
	if hs == nil {
		var err error
		if hs, err = hostHierarchies("/proc/thread-self/mountinfo"); err != nil {
			return nil, err
		}
	}
	m := &Manager{root: path.Clean(cfg.Root), hs: hs}
	var unified *Hierarchy
	for i := range hs {
		h := &hs[i]
		if h.Unified {
			unified = h
			continue
		}
		if slices.Contains(h.Controllers, "cpu") {
			m.cpu = h.Path
		}
		if slices.Contains(h.Controllers, "memory") {
			m.mem = h.Path
		}
	}
	if m.cpu == "" && m.mem == "" && unified != nil {
		// A v2 host: every controller lives in the unified tree.
		m.v2 = true
		b, err := os.ReadFile(filepath.Join(unified.Path, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("podcgroups: %w", err)
		}
		for _, c := range strings.Fields(string(b)) {
			if c == "cpu" || c == "memory" || c == "pids" {
				m.v2Ctl = append(m.v2Ctl, c)
			}
		}
		if slices.Contains(m.v2Ctl, "cpu") {
			m.cpu = unified.Path
		}
		if slices.Contains(m.v2Ctl, "memory") {
			m.mem = unified.Path
		}
	}
	return m, nil
}

// hostHierarchies reads the cgroupfs mounts from a mountinfo file.
func hostHierarchies(mountinfo string) ([]Hierarchy, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("podcgroups: %w", err)
	}
	defer f.Close()
	return parseMountinfo(bufio.NewScanner(f))
}

func parseMountinfo(sc *bufio.Scanner) ([]Hierarchy, error) {
	var out []Hierarchy
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld != "-" || i+3 >= len(fields) || len(fields) < 5 {
				continue
			}
			switch fields[i+1] {
			case "cgroup2":
				out = append(out, Hierarchy{Path: fields[4], Unified: true})
			case "cgroup":
				h := Hierarchy{Path: fields[4]}
				for _, o := range strings.Split(fields[i+3], ",") {
					if o != "rw" && o != "ro" && !strings.Contains(o, "=") && o != "clone_children" && o != "noprefix" && o != "xattr" {
						h.Controllers = append(h.Controllers, o)
					}
				}
				out = append(out, h)
			}
		}
	}
	return out, sc.Err()
}

// Class is a pod's QoS class: the API server's when it set one, else computed the same way
// (static pods never pass the API server).
func Class(pod *v1.Pod) v1.PodQOSClass { return containerconfig.QOSClass(pod) }

// Path is the pod's cgroup, relative to the mounts.
func (m *Manager) Path(pod *v1.Pod) string {
	return path.Join(m.tier(Class(pod)), "pod"+string(pod.UID))
}

func (m *Manager) tier(c v1.PodQOSClass) string {
	switch c {
	case v1.PodQOSBurstable:
		return path.Join(m.root, Kubepods, Burstable)
	case v1.PodQOSBestEffort:
		return path.Join(m.root, Kubepods, BestEffort)
	}
	return path.Join(m.root, Kubepods)
}

// PodGlobs are glob patterns, relative to a hierarchy's mount, that match the cgroup of pod uid
// (of every pod when uid is "") in whichever QoS tier below root it lives: what a check for
// leftovers looks at.
func PodGlobs(root, uid string) []string {
	name := "pod" + uid
	if uid == "" {
		name = "pod*"
	}
	return []string{
		path.Join(root, Kubepods, name),
		path.Join(root, Kubepods, Burstable, name),
		path.Join(root, Kubepods, BestEffort, name),
	}
}

// Limits are the pod-level settings of a pod cgroup; zero means unset.
type Limits struct {
	CPUShares   uint64
	CPUQuota    int64 // microseconds per CPUPeriod
	CPUPeriod   uint64
	MemoryLimit int64
}

// PodLimits computes a pod cgroup's limits as upstream does: cpu shares from the pod's cpu
// requests (2 for none: BestEffort), a cpu quota when every container has a cpu limit and a
// memory limit when every container has a memory limit. What the pod needs is the larger of its
// app containers together (with sidecars) and its largest init container.
func PodLimits(pod *v1.Pod) Limits {
	req, lim, allCPU, allMem := effective(pod)
	var l Limits
	l.CPUShares = shares(req[v1.ResourceCPU])
	if Class(pod) == v1.PodQOSBestEffort {
		l.CPUShares = minShares
		return l
	}
	if allCPU && lim[v1.ResourceCPU] > 0 {
		l.CPUPeriod = cfsPeriodUs
		l.CPUQuota = max(lim[v1.ResourceCPU]*cfsPeriodUs/1000, 1000)
	}
	if allMem && lim[v1.ResourceMemory] > 0 {
		l.MemoryLimit = lim[v1.ResourceMemory]
	}
	return l
}

func shares(milli int64) uint64 {
	s := milli * 1024 / 1000
	return uint64(min(max(s, minShares), maxShares))
}

// effective sums requests and limits (cpu in millicores, memory in bytes) and says whether
// every container limits cpu and memory.
func effective(pod *v1.Pod) (req, lim map[v1.ResourceName]int64, allCPU, allMem bool) {
	req, lim = map[v1.ResourceName]int64{}, map[v1.ResourceName]int64{}
	allCPU, allMem = true, true
	val := func(name v1.ResourceName, list v1.ResourceList) (int64, bool) {
		q, ok := list[name]
		if !ok {
			return 0, false
		}
		if name == v1.ResourceCPU {
			return q.MilliValue(), true
		}
		return q.Value(), true
	}
	type sum struct{ req, lim map[v1.ResourceName]int64 }
	add := func(s sum, c *v1.Container) {
		for _, n := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
			r, ok := val(n, c.Resources.Requests)
			l, hasLim := val(n, c.Resources.Limits)
			if !ok && hasLim {
				r = l // a lone limit is the request, as API defaulting makes it
			}
			s.req[n] += r
			s.lim[n] += l
			if !hasLim {
				if n == v1.ResourceCPU {
					allCPU = false
				} else {
					allMem = false
				}
			}
		}
	}
	apps := sum{map[v1.ResourceName]int64{}, map[v1.ResourceName]int64{}}
	sidecars := sum{map[v1.ResourceName]int64{}, map[v1.ResourceName]int64{}}
	for i := range pod.Spec.Containers {
		add(apps, &pod.Spec.Containers[i])
	}
	inits := sum{map[v1.ResourceName]int64{}, map[v1.ResourceName]int64{}}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			add(sidecars, c)
			continue
		}
		one := sum{map[v1.ResourceName]int64{}, map[v1.ResourceName]int64{}}
		add(one, c)
		for n := range one.req {
			inits.req[n] = max(inits.req[n], one.req[n]+sidecars.req[n])
			inits.lim[n] = max(inits.lim[n], one.lim[n]+sidecars.lim[n])
		}
	}
	for _, n := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
		req[n] = max(apps.req[n]+sidecars.req[n], inits.req[n])
		lim[n] = max(apps.lim[n]+sidecars.lim[n], inits.lim[n])
	}
	return req, lim, allCPU, allMem
}

// Ensure creates the pod's cgroup (and the QoS tiers above it) and writes its limits; it
// returns the cgroup, the parent of the pod's sandbox and containers.
func (m *Manager) Ensure(pod *v1.Pod) (string, error) {
	class := Class(pod)
	p := m.Path(pod)
	if class == v1.PodQOSBestEffort {
		if err := m.apply(m.tier(class), Limits{CPUShares: minShares}); err != nil {
			return "", err
		}
	}
	if err := m.apply(p, PodLimits(pod)); err != nil {
		return "", err
	}
	return p, nil
}

// apply creates rel where limits are written and writes them.
func (m *Manager) apply(rel string, l Limits) error {
	var errs []error
	if m.cpu != "" {
		dir, err := m.mkdir(m.cpu, rel)
		if err != nil {
			return err
		}
		if m.v2 {
			weight := 1 + ((max(l.CPUShares, minShares)-2)*9999)/262142
			errs = append(errs, write(dir, "cpu.weight", strconv.FormatUint(weight, 10)))
			quota := "max"
			if l.CPUQuota > 0 {
				quota = strconv.FormatInt(l.CPUQuota, 10)
			}
			errs = append(errs, write(dir, "cpu.max", fmt.Sprintf("%s %d", quota, cfsPeriodUs)))
		} else {
			if l.CPUShares > 0 {
				errs = append(errs, write(dir, "cpu.shares", strconv.FormatUint(l.CPUShares, 10)))
			}
			if l.CPUQuota > 0 {
				errs = append(errs, write(dir, "cpu.cfs_period_us", strconv.FormatUint(l.CPUPeriod, 10)),
					write(dir, "cpu.cfs_quota_us", strconv.FormatInt(l.CPUQuota, 10)))
			}
		}
	}
	if m.mem != "" && (l.MemoryLimit > 0 || m.v2) {
		dir, err := m.mkdir(m.mem, rel)
		if err != nil {
			return err
		}
		if m.v2 {
			v := "max"
			if l.MemoryLimit > 0 {
				v = strconv.FormatInt(l.MemoryLimit, 10)
			}
			errs = append(errs, write(dir, "memory.max", v))
		} else {
			errs = append(errs, write(dir, "memory.limit_in_bytes", strconv.FormatInt(l.MemoryLimit, 10)))
		}
	}
	return errors.Join(errs...)
}

// mkdir creates rel below the mount; on v2 each ancestor first hands the pod controllers down
// (a v2 cgroup has only the controllers its parent enabled for its children).
func (m *Manager) mkdir(mount, rel string) (string, error) {
	dir := filepath.Join(mount, rel)
	if !m.v2 {
		return dir, os.MkdirAll(dir, 0o755)
	}
	cur := mount
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	for _, p := range parts {
		if len(m.v2Ctl) > 0 {
			var b strings.Builder
			for i, c := range m.v2Ctl {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString("+" + c)
			}
			if err := write(cur, "cgroup.subtree_control", b.String()); err != nil {
				return "", err
			}
		}
		cur = filepath.Join(cur, p)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return dir, nil
}

func write(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("podcgroups: writing %s to %s: %w", value, filepath.Join(dir, file), err)
	}
	return nil
}

// Remove removes the cgroup of the pod with this uid from every hierarchy (whatever its QoS
// class was) once its processes are gone: the kernel refuses while a task remains, and a few
// short retries cover the moment a killed task takes to leave. A cgroup that is not there is
// fine.
func (m *Manager) Remove(uid k8stypes.UID) error {
	var errs []error
	for _, h := range m.hs {
		for _, class := range []v1.PodQOSClass{v1.PodQOSGuaranteed, v1.PodQOSBurstable, v1.PodQOSBestEffort} {
			if err := removeWithRetry(h.Path, filepath.Join(h.Path, m.tier(class), "pod"+string(uid))); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func removeWithRetry(mount, dir string) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = removeTree(mount, dir); err == nil || !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("podcgroups: removing %s: %w", dir, err)
	}
	return nil
}

// removeTree removes dir and the (empty) cgroups below it, deepest first: the runtime may
// have left a container's cgroup a host removed later than it asked. A hierarchy that is a
// plain directory rather than cgroupfs (tests lay them out so) is removed as one.
func removeTree(mount, dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(mount, &st); err == nil && st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC {
		return os.RemoveAll(dir)
	}
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Dir is where rel lives in the hierarchy of a controller ("cpu", "memory"), for callers that
// read what was written; "" when the host has no such controller.
func (m *Manager) Dir(controller, rel string) string {
	switch controller {
	case "cpu":
		if m.cpu != "" {
			return filepath.Join(m.cpu, rel)
		}
	case "memory":
		if m.mem != "" {
			return filepath.Join(m.mem, rel)
		}
	}
	return ""
}
