package containerconfig

import (
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const (
	minShares     = 2
	maxShares     = 262144
	sharesPerCPU  = 1024
	milliPerCPU   = 1000
	minQuotaUsec  = 1000
	defaultPeriod = 100 * time.Millisecond

	guaranteedOOMScoreAdj = -997
	besteffortOOMScoreAdj = 1000
)

// MilliCPUToShares maps a CPU request to cgroup v1 cpu.shares: 1024 per
// CPU, with the kernel's floor of 2 for "no request".
func MilliCPUToShares(milli int64) uint64 {
	if milli <= 0 {
		return minShares
	}
	s := milli * sharesPerCPU / milliPerCPU
	if s < minShares {
		return minShares
	}
	if s > maxShares {
		return maxShares
	}
	return uint64(s)
}

// MilliCPUToQuota maps a CPU limit to cfs_quota_us for the period, never
// below the kernel's 1 ms minimum; 0 means no limit.
func MilliCPUToQuota(milli int64, period time.Duration) int64 {
	if milli <= 0 {
		return 0
	}
	q := milli * period.Microseconds() / milliPerCPU
	if q < minQuotaUsec {
		return minQuotaUsec
	}
	return q
}

func makeResources(in *Input) Resources {
	c := in.Container
	req, lim := c.Resources.Requests.Cpu(), c.Resources.Limits.Cpu()
	var r Resources
	// A limit alone stands for the request, as API defaulting would have set.
	if req.IsZero() && !lim.IsZero() {
		r.CPUShares = MilliCPUToShares(lim.MilliValue())
	} else {
		r.CPUShares = MilliCPUToShares(req.MilliValue())
	}
	if !lim.IsZero() && !in.DisableCPUQuota {
		period := in.CPUCFSQuotaPeriod
		if period <= 0 {
			period = defaultPeriod
		}
		r.CPUPeriod = uint64(period.Microseconds())
		r.CPUQuota = MilliCPUToQuota(lim.MilliValue(), period)
	}
	if m, ok := c.Resources.Limits[v1.ResourceMemory]; ok {
		r.MemoryLimit = m.Value()
	}
	if in.PidsLimit > 0 {
		r.PidsLimit = in.PidsLimit
	}
	var capacity int64
	if m, ok := in.NodeCapacity[v1.ResourceMemory]; ok {
		capacity = m.Value()
	}
	r.OOMScoreAdj = OOMScoreAdj(in.Pod, c, capacity)
	return r
}

// QOSClass returns the pod's QoS class: the one in its status when the API
// server set it, else computed from cpu and memory requests and limits.
func QOSClass(pod *v1.Pod) v1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	requests, limits := v1.ResourceList{}, v1.ResourceList{}
	guaranteed := true
	add := func(list v1.ResourceList, name v1.ResourceName, q resource.Quantity) {
		sum := list[name]
		sum.Add(q)
		list[name] = sum
	}
	for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			found := 0
			for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
				req, ok := c.Resources.Requests[name]
				if !ok {
					// API defaulting copies a lone limit into the request; do
					// the same for objects that skipped it (static pods).
					req, ok = c.Resources.Limits[name]
				}
				if ok && !req.IsZero() {
					add(requests, name, req)
				}
				if q, ok := c.Resources.Limits[name]; ok && !q.IsZero() {
					add(limits, name, q)
					found++
				}
			}
			if found != 2 {
				guaranteed = false
			}
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return v1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return v1.PodQOSGuaranteed
	}
	return v1.PodQOSBurstable
}

// OOMScoreAdj ranks the container for the OOM killer: node-critical and
// guaranteed pods last, best-effort first, burstable by how much of the
// node's memory they requested (strictly between the two).
func OOMScoreAdj(pod *v1.Pod, c *v1.Container, memoryCapacity int64) int {
	if pod.Spec.PriorityClassName == "system-node-critical" {
		return guaranteedOOMScoreAdj
	}
	switch QOSClass(pod) {
	case v1.PodQOSGuaranteed:
		return guaranteedOOMScoreAdj
	case v1.PodQOSBestEffort:
		return besteffortOOMScoreAdj
	}
	if memoryCapacity <= 0 {
		return besteffortOOMScoreAdj - 1
	}
	req := c.Resources.Requests.Memory().Value()
	if _, ok := c.Resources.Requests[v1.ResourceMemory]; !ok {
		req = c.Resources.Limits.Memory().Value()
	}
	adj := 1000 - (1000*req)/memoryCapacity
	if adj < 1000+guaranteedOOMScoreAdj {
		return 1000 + guaranteedOOMScoreAdj
	}
	if adj == besteffortOOMScoreAdj {
		return int(adj - 1)
	}
	return int(adj)
}
