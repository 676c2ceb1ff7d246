package containerconfig

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func rl(pairs ...string) v1.ResourceList {
	out := v1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[v1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func TestMilliCPUToShares(t *testing.T) {
	for _, tt := range []struct {
		milli int64
		want  uint64
	}{{0, 2}, {1, 2}, {2, 2}, {5, 5}, {100, 102}, {250, 256}, {1000, 1024}, {1500, 1536}, {256000, 262144}, {300000, 262144}} {
		if got := MilliCPUToShares(tt.milli); got != tt.want {
			t.Errorf("shares(%d) = %d want %d", tt.milli, got, tt.want)
		}
	}
}

func TestMilliCPUToQuota(t *testing.T) {
	for _, tt := range []struct {
		milli  int64
		period time.Duration
		want   int64
	}{{0, 100 * time.Millisecond, 0}, {5, 100 * time.Millisecond, 1000}, {10, 100 * time.Millisecond, 1000},
		{200, 100 * time.Millisecond, 20000}, {1500, 100 * time.Millisecond, 150000}, {500, 50 * time.Millisecond, 25000}} {
		if got := MilliCPUToQuota(tt.milli, tt.period); got != tt.want {
			t.Errorf("quota(%d, %v) = %d want %d", tt.milli, tt.period, got, tt.want)
		}
	}
}

func TestResources(t *testing.T) {
	gi := int64(1 << 30)
	tests := []struct {
		name   string
		req    v1.ResourceList
		lim    v1.ResourceList
		others []v1.Container
		mutate func(*Input)
		want   Resources
	}{
		{name: "best effort", want: Resources{CPUShares: 2, OOMScoreAdj: 1000}},
		{name: "guaranteed", req: rl("cpu", "500m", "memory", "1Gi"), lim: rl("cpu", "500m", "memory", "1Gi"),
			want: Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: gi, OOMScoreAdj: -997}},
		{name: "limit alone sets shares", lim: rl("cpu", "2"),
			want: Resources{CPUShares: 2048, CPUQuota: 200000, CPUPeriod: 100000, OOMScoreAdj: 999}},
		{name: "burstable by memory request", req: rl("memory", "2Gi"), want: Resources{CPUShares: 2, OOMScoreAdj: 750}},
		{name: "burstable memory limit stands for the request", lim: rl("memory", "4Gi"), want: Resources{CPUShares: 2, MemoryLimit: 4 * gi, OOMScoreAdj: 500}},
		{name: "burstable near whole node is clamped to 3", req: rl("memory", "8Gi"), want: Resources{CPUShares: 2, OOMScoreAdj: 3}},
		{name: "burstable with tiny request is below best effort", req: rl("cpu", "100m"), want: Resources{CPUShares: 102, OOMScoreAdj: 999}},
		{name: "one guaranteed container in a burstable pod", req: rl("cpu", "1", "memory", "1Gi"), lim: rl("cpu", "1", "memory", "1Gi"),
			others: []v1.Container{{Name: "side"}},
			want:   Resources{CPUShares: 1024, CPUQuota: 100000, CPUPeriod: 100000, MemoryLimit: gi, OOMScoreAdj: 875}},
		{name: "pids limit and custom period", lim: rl("cpu", "1"), mutate: func(in *Input) { in.PidsLimit = 1024; in.CPUCFSQuotaPeriod = 10 * time.Millisecond },
			want: Resources{CPUShares: 1024, CPUQuota: 10000, CPUPeriod: 10000, PidsLimit: 1024, OOMScoreAdj: 999}},
		{name: "quota disabled", lim: rl("cpu", "1"), mutate: func(in *Input) { in.DisableCPUQuota = true }, want: Resources{CPUShares: 1024, OOMScoreAdj: 999}},
		{name: "status QoS wins", req: rl("memory", "2Gi"), mutate: func(in *Input) { in.Pod.Status.QOSClass = v1.PodQOSBestEffort },
			want: Resources{CPUShares: 2, OOMScoreAdj: 1000}},
		{name: "node critical", mutate: func(in *Input) { in.Pod.Spec.PriorityClassName = "system-node-critical" }, want: Resources{CPUShares: 2, OOMScoreAdj: -997}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := gen(t, v1.Container{Resources: v1.ResourceRequirements{Requests: tt.req, Limits: tt.lim}}, func(in *Input) {
				in.NodeCapacity = rl("memory", "8Gi")
				in.Pod.Spec.Containers = append(in.Pod.Spec.Containers, tt.others...)
				in.Container = &in.Pod.Spec.Containers[0]
				if tt.mutate != nil {
					tt.mutate(in)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Resources != tt.want {
				t.Fatalf("got %+v\nwant %+v", cfg.Resources, tt.want)
			}
		})
	}
}

func TestQOSClass(t *testing.T) {
	c := func(req, lim v1.ResourceList) v1.Container {
		return v1.Container{Resources: v1.ResourceRequirements{Requests: req, Limits: lim}}
	}
	full := rl("cpu", "1", "memory", "1Gi")
	for _, tt := range []struct {
		name string
		cs   []v1.Container
		init []v1.Container
		want v1.PodQOSClass
	}{
		{"empty", []v1.Container{c(nil, nil)}, nil, v1.PodQOSBestEffort},
		{"only other resources", []v1.Container{c(rl("ephemeral-storage", "1Gi"), nil)}, nil, v1.PodQOSBestEffort},
		{"equal", []v1.Container{c(full, full)}, nil, v1.PodQOSGuaranteed},
		{"limits only", []v1.Container{c(nil, full)}, nil, v1.PodQOSGuaranteed},
		{"memory limit only", []v1.Container{c(nil, rl("memory", "1Gi"))}, nil, v1.PodQOSBurstable},
		{"request below limit", []v1.Container{c(rl("cpu", "500m", "memory", "1Gi"), full)}, nil, v1.PodQOSBurstable},
		{"init container without limits", []v1.Container{c(full, full)}, []v1.Container{c(nil, nil)}, v1.PodQOSBurstable},
	} {
		pod := &v1.Pod{Spec: v1.PodSpec{Containers: tt.cs, InitContainers: tt.init}}
		if got := QOSClass(pod); got != tt.want {
			t.Errorf("%s: %s want %s", tt.name, got, tt.want)
		}
	}
}
