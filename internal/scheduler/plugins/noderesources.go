package plugins

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

// NodeResourcesFit rejects nodes whose allocatable, minus what the pods already there request,
// cannot hold the pod's effective requests; every short resource is a reason of its own
// ("Insufficient cpu"), and a full pod count is "Too many pods".
type NodeResourcesFit struct{}

func (NodeResourcesFit) Name() string { return "NodeResourcesFit" }

func (NodeResourcesFit) Filter(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	reasons := InsufficientResources(pod, n)
	if len(reasons) == 0 {
		return nil
	}
	return fw.NewStatus(fw.Unschedulable, reasons...)
}

// InsufficientResources lists why pod does not fit n's resources, in upstream's order: pods, cpu,
// memory, ephemeral-storage, then extended resources by name. Resources the pod does not request
// are never short, even on an overcommitted node.
func InsufficientResources(pod *fw.PodInfo, n *fw.NodeInfo) []string {
	var reasons []string
	if int64(len(n.Pods))+1 > n.Allocatable.AllowedPodNumber {
		reasons = append(reasons, ReasonTooManyPods)
	}
	req := &pod.Requests
	if req.IsZero() {
		return reasons
	}
	alloc, used := &n.Allocatable, &n.Requested
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if req.Memory > 0 && req.Memory > alloc.Memory-used.Memory {
		reasons = append(reasons, "Insufficient memory")
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		reasons = append(reasons, "Insufficient ephemeral-storage")
	}
	if len(req.Scalar) > 0 {
		names := make([]corev1.ResourceName, 0, len(req.Scalar))
		for name := range req.Scalar {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			q := req.Scalar[name]
			if q > 0 && q > alloc.Scalar[name]-used.Scalar[name] {
				reasons = append(reasons, "Insufficient "+string(name))
			}
		}
	}
	return reasons
}

// LeastAllocated prefers nodes with the most CPU and memory left after placing the pod, each
// resource weighing 1, with upstream's scoring defaults for containers that request nothing.
type LeastAllocated struct{}

func (LeastAllocated) Name() string { return "NodeResourcesLeastAllocated" }

func (LeastAllocated) PreScore(context.Context, *fw.CycleState, *fw.PodInfo, []*fw.NodeInfo, *fw.Snapshot) *fw.Status {
	return nil
}

func (LeastAllocated) Score(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) int64 {
	cpu := leastAllocated(n.NonZeroRequested.MilliCPU+pod.NonZeroMilliCPU, n.Allocatable.MilliCPU)
	mem := leastAllocated(n.NonZeroRequested.Memory+pod.NonZeroMemory, n.Allocatable.Memory)
	return (cpu + mem) / 2
}

func leastAllocated(requested, capacity int64) int64 {
	if capacity == 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * fw.MaxNodeScore / capacity
}

func (LeastAllocated) Normalize(context.Context, *fw.CycleState, *fw.PodInfo, []int64) {}

// BalancedAllocation prefers nodes whose CPU and memory would be used in equal shares after
// placing the pod: 100 × (1 − the standard deviation of the two fractions). Best-effort pods
// (no requests) do not take part, as upstream.
type BalancedAllocation struct{}

func (BalancedAllocation) Name() string { return "NodeResourcesBalancedAllocation" }

func (BalancedAllocation) PreScore(context.Context, *fw.CycleState, *fw.PodInfo, []*fw.NodeInfo, *fw.Snapshot) *fw.Status {
	return nil
}

func (BalancedAllocation) Score(_ context.Context, _ *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) int64 {
	if pod.Requests.MilliCPU == 0 && pod.Requests.Memory == 0 {
		return 0
	}
	var fractions []float64
	for _, r := range [][2]int64{
		{n.Requested.MilliCPU + pod.Requests.MilliCPU, n.Allocatable.MilliCPU},
		{n.Requested.Memory + pod.Requests.Memory, n.Allocatable.Memory},
	} {
		if r[1] == 0 {
			continue
		}
		f := float64(r[0]) / float64(r[1])
		if f > 1 {
			f = 1
		}
		fractions = append(fractions, f)
	}
	var std float64
	if len(fractions) == 2 {
		d := fractions[0] - fractions[1]
		if d < 0 {
			d = -d
		}
		std = d / 2
	}
	return int64((1 - std) * float64(fw.MaxNodeScore))
}

func (BalancedAllocation) Normalize(context.Context, *fw.CycleState, *fw.PodInfo, []int64) {}
