package nodestatus

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/skiff-dev/skiff/internal/version"
)

// observation is one reading of the host: everything the status is computed from.
type observation struct {
	numCPU   int
	mem      memInfo
	memErr   error
	fs       fsStats
	fsErr    error
	pids     pidStats
	pidsErr  error
	huge     map[int64]int64
	sys      systemInfo
	problems []error // failed readiness checks
}

func (a *Agent) observe() observation {
	o := observation{numCPU: a.host.numCPU(), huge: a.host.hugePages(), sys: a.host.systemInfo()}
	o.mem, o.memErr = a.host.memInfo()
	if a.cfg.DataDir != "" {
		o.fs, o.fsErr = a.host.statfs(a.cfg.DataDir)
	}
	o.pids, o.pidsErr = a.host.pids()
	for _, check := range a.cfg.ReadinessChecks {
		if err := check(); err != nil {
			o.problems = append(o.problems, err)
		}
	}
	return o
}

// setStatus brings node.Status up to date with the host as observed at now, changing only what
// the agent owns: foreign conditions and capacity entries (extended resources advertised by
// PATCHing the status, as upstream documents) stay. It returns the events of the conditions
// that flipped.
func (a *Agent) setStatus(node *corev1.Node, o observation, now time.Time) []string {
	st := &node.Status
	mnow := metav1.NewTime(now)

	st.Addresses = a.addresses()
	a.setResources(st, o)
	st.NodeInfo = a.nodeInfo(o.sys)
	st.DaemonEndpoints.KubeletEndpoint.Port = int32(a.cfg.KubeletPort)

	on := a.pressure.observe(now, a.cfg.PressureTransitionPeriod, a.signals(o))
	events := setPressureConditions(st, on, mnow)
	problems := o.problems
	if err := missingCapacity(st.Capacity); err != nil {
		problems = append([]error{err}, problems...)
	}
	events = append(events, setReadyCondition(st, problems, mnow)...)
	setHostNotesCondition(st, a.hostNotes(), mnow)

	for _, set := range a.cfg.StatusSetters {
		set(node)
	}
	return events
}

func (a *Agent) addresses() []corev1.NodeAddress {
	var out []corev1.NodeAddress
	if a.cfg.NodeIP != nil {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a.cfg.NodeIP.String()})
	}
	return append(out, corev1.NodeAddress{Type: corev1.NodeHostName, Address: a.cfg.Hostname})
}

func (a *Agent) nodeInfo(sys systemInfo) corev1.NodeSystemInfo {
	info := corev1.NodeSystemInfo{
		MachineID:               sys.MachineID,
		SystemUUID:              sys.SystemUUID,
		BootID:                  sys.BootID,
		KernelVersion:           sys.KernelVersion,
		OSImage:                 sys.OSImage,
		ContainerRuntimeVersion: a.cfg.RuntimeVersion,
		KubeletVersion:          version.GitVersion(),
		OperatingSystem:         runtime.GOOS,
		Architecture:            runtime.GOARCH,
		Swap:                    &corev1.NodeSwapStatus{Capacity: &sys.SwapBytes},
	}
	if a.cfg.MachineID != "" {
		info.MachineID = a.cfg.MachineID
	}
	if a.cfg.SystemUUID != "" {
		info.SystemUUID = a.cfg.SystemUUID
	}
	return info
}

// hugePageResource names a huge page size as upstream does ("hugepages-2Mi").
func hugePageResource(size int64) corev1.ResourceName {
	return corev1.ResourceName(corev1.ResourceHugePagesPrefix + resource.NewQuantity(size, resource.BinarySI).String())
}

// setResources fills capacity from the host and derives allocatable from it.
func (a *Agent) setResources(st *corev1.NodeStatus, o observation) {
	if st.Capacity == nil {
		st.Capacity = corev1.ResourceList{}
	}
	c := st.Capacity
	c[corev1.ResourceCPU] = *resource.NewQuantity(int64(o.numCPU), resource.DecimalSI)
	if o.memErr == nil {
		c[corev1.ResourceMemory] = *resource.NewQuantity(o.mem.Total, resource.BinarySI)
	} else {
		delete(c, corev1.ResourceMemory)
	}
	c[corev1.ResourcePods] = *resource.NewQuantity(int64(a.cfg.MaxPods), resource.DecimalSI)
	if a.cfg.DataDir != "" && o.fsErr == nil {
		c[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(o.fs.CapacityBytes, resource.BinarySI)
	} else {
		delete(c, corev1.ResourceEphemeralStorage)
	}
	var hugeTotal int64
	for size, bytes := range o.huge {
		c[hugePageResource(size)] = *resource.NewQuantity(bytes, resource.BinarySI)
		hugeTotal += bytes
	}

	// allocatable = capacity - reserved - hard eviction thresholds, for every capacity entry
	// (extended resources included, which have no reservation), as upstream; pre-allocated huge
	// pages are not available as ordinary memory either.
	reservation := a.reservation(c)
	if hugeTotal > 0 {
		q := reservation[corev1.ResourceMemory]
		q.Add(*resource.NewQuantity(hugeTotal, resource.BinarySI))
		reservation[corev1.ResourceMemory] = q
	}
	if st.Allocatable == nil {
		st.Allocatable = corev1.ResourceList{}
	}
	for name := range st.Allocatable {
		if _, ok := c[name]; !ok {
			delete(st.Allocatable, name)
		}
	}
	for name, q := range c {
		v := q.DeepCopy()
		if r, ok := reservation[name]; ok {
			v.Sub(r)
		}
		if v.Sign() < 0 {
			v.Set(0)
		}
		st.Allocatable[name] = v
	}
}

// reservation is what allocatable leaves out of capacity for the node itself: the configured
// reservations plus the hard eviction thresholds, so that pods filling allocatable do not push the
// node straight into eviction.
func (a *Agent) reservation(capacity corev1.ResourceList) corev1.ResourceList {
	r := corev1.ResourceList{}
	for name, q := range a.cfg.Reserved {
		r[name] = q.DeepCopy()
	}
	add := func(name corev1.ResourceName, q resource.Quantity) {
		cur := r[name]
		cur.Add(q)
		r[name] = cur
	}
	th := a.cfg.EvictionHard
	if !th.MemoryAvailable.IsZero() {
		add(corev1.ResourceMemory, th.MemoryAvailable)
	}
	if eph, ok := capacity[corev1.ResourceEphemeralStorage]; ok && th.NodeFSAvailable > 0 {
		add(corev1.ResourceEphemeralStorage, *resource.NewQuantity(int64(float64(eph.Value())*th.NodeFSAvailable), resource.BinarySI))
	}
	return r
}

// signals says which pressure thresholds the observation crosses. A signal that cannot be read
// reports no pressure, as upstream does when a stat is missing: a broken reading should not
// taint the node.
func (a *Agent) signals(o observation) map[corev1.NodeConditionType]bool {
	th := a.cfg.EvictionHard
	out := map[corev1.NodeConditionType]bool{}
	if o.memErr == nil && !th.MemoryAvailable.IsZero() {
		out[corev1.NodeMemoryPressure] = o.mem.Available < th.MemoryAvailable.Value()
	}
	if a.cfg.DataDir != "" && o.fsErr == nil {
		if o.fs.CapacityBytes > 0 && th.NodeFSAvailable > 0 &&
			float64(o.fs.AvailableBytes) < th.NodeFSAvailable*float64(o.fs.CapacityBytes) {
			out[corev1.NodeDiskPressure] = true
		}
		if o.fs.Inodes > 0 && th.NodeFSInodesFree > 0 &&
			float64(o.fs.InodesFree) < th.NodeFSInodesFree*float64(o.fs.Inodes) {
			out[corev1.NodeDiskPressure] = true
		}
	}
	if o.pidsErr == nil && th.PIDAvailable > 0 && o.pids.Max > 0 {
		out[corev1.NodePIDPressure] = float64(o.pids.Max-o.pids.Running) < th.PIDAvailable*float64(o.pids.Max)
	}
	return out
}

// statusChanged says whether a write is due for a reason other than the heartbeat: heartbeats
// alone are written only every StatusReportFrequency, the Lease being the node's liveness signal.
// Condition order does not matter, as in upstream.
func statusChanged(old, new *corev1.NodeStatus) bool {
	if len(old.Conditions) != len(new.Conditions) {
		return true
	}
	norm := func(cs []corev1.NodeCondition) []corev1.NodeCondition {
		out := make([]corev1.NodeCondition, len(cs))
		for i, c := range cs {
			c.LastHeartbeatTime = metav1.Time{}
			out[i] = c
		}
		slices.SortFunc(out, func(a, b corev1.NodeCondition) int { return strings.Compare(string(a.Type), string(b.Type)) })
		return out
	}
	if !equality.Semantic.DeepEqual(norm(old.Conditions), norm(new.Conditions)) {
		return true
	}
	o, n := *old, *new
	o.Conditions, n.Conditions = nil, nil
	return !equality.Semantic.DeepEqual(o, n)
}

// statusPatch is the strategic merge patch from old's status to new's, for nodes/status.
//
// status.addresses is declared as a list merged by "type", but a node may have two addresses of
// one type (an IPv4 and an IPv6 InternalIP) and merging by type would keep stale ones; like
// upstream, the patch replaces the whole list whenever it changed.
func statusPatch(old, new *corev1.Node) ([]byte, error) {
	oldJSON, err := json.Marshal(corev1.Node{Status: old.Status})
	if err != nil {
		return nil, err
	}
	newJSON, err := json.Marshal(corev1.Node{Status: new.Status})
	if err != nil {
		return nil, err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, corev1.Node{})
	if err != nil {
		return nil, fmt.Errorf("node status patch: %w", err)
	}
	if equality.Semantic.DeepEqual(old.Status.Addresses, new.Status.Addresses) {
		return patch, nil
	}
	var m map[string]any
	if err := json.Unmarshal(patch, &m); err != nil {
		return nil, err
	}
	st, _ := m["status"].(map[string]any)
	if st == nil {
		st = map[string]any{}
		m["status"] = st
	}
	delete(st, "$setElementOrder/addresses")
	addrs := []any{map[string]any{"$patch": "replace"}}
	for _, a := range new.Status.Addresses {
		addrs = append(addrs, map[string]any{"type": string(a.Type), "address": a.Address})
	}
	st["addresses"] = addrs
	return json.Marshal(m)
}
