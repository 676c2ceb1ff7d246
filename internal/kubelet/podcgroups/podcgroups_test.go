package podcgroups

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func ctr(name string, req, lim map[v1.ResourceName]string) v1.Container {
	c := v1.Container{Name: name, Resources: v1.ResourceRequirements{Requests: v1.ResourceList{}, Limits: v1.ResourceList{}}}
	for n, q := range req {
		c.Resources.Requests[n] = resource.MustParse(q)
	}
	for n, q := range lim {
		c.Resources.Limits[n] = resource.MustParse(q)
	}
	return c
}

type rl = map[v1.ResourceName]string

func pod(uid string, init []v1.Container, cs ...v1.Container) *v1.Pod {
	p := &v1.Pod{Spec: v1.PodSpec{InitContainers: init, Containers: cs}}
	p.UID = k8stypes.UID("u-" + uid)
	return p
}

func TestPodLimits(t *testing.T) {
	both := rl{v1.ResourceCPU: "500m", v1.ResourceMemory: "64Mi"}
	tests := []struct {
		name  string
		pod   *v1.Pod
		class v1.PodQOSClass
		want  Limits
	}{
		{"besteffort", pod("a", nil, ctr("c", nil, nil)), v1.PodQOSBestEffort, Limits{CPUShares: 2}},
		{"guaranteed", pod("b", nil, ctr("c", both, both), ctr("d", both, both)), v1.PodQOSGuaranteed,
			Limits{CPUShares: 1024, CPUQuota: 100000, CPUPeriod: 100000, MemoryLimit: 128 << 20}},
		{"guaranteed from limits alone", pod("b2", nil, ctr("c", nil, both)), v1.PodQOSGuaranteed,
			Limits{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 << 20}},
		{"burstable, one container without a memory limit", pod("c", nil,
			ctr("c", rl{v1.ResourceCPU: "250m"}, rl{v1.ResourceCPU: "1", v1.ResourceMemory: "32Mi"}),
			ctr("d", rl{v1.ResourceCPU: "250m"}, rl{v1.ResourceCPU: "1"})), v1.PodQOSBurstable,
			Limits{CPUShares: 512, CPUQuota: 200000, CPUPeriod: 100000}},
		{"burstable, requests only", pod("d", nil, ctr("c", rl{v1.ResourceMemory: "10Mi"}, nil)), v1.PodQOSBurstable,
			Limits{CPUShares: 2}},
		{"init container larger than the apps", pod("e",
			[]v1.Container{ctr("i", rl{v1.ResourceCPU: "2"}, rl{v1.ResourceCPU: "2", v1.ResourceMemory: "1Gi"})},
			ctr("c", rl{v1.ResourceCPU: "100m"}, rl{v1.ResourceCPU: "100m", v1.ResourceMemory: "10Mi"})), v1.PodQOSGuaranteed,
			Limits{CPUShares: 2048, CPUQuota: 200000, CPUPeriod: 100000, MemoryLimit: 1 << 30}},
	}
	sidecar := ctr("s", both, both)
	sidecar.RestartPolicy = ptr.To(v1.ContainerRestartPolicyAlways)
	tests = append(tests, struct {
		name  string
		pod   *v1.Pod
		class v1.PodQOSClass
		want  Limits
	}{"sidecar adds to the apps", pod("f", []v1.Container{sidecar}, ctr("c", both, both)), v1.PodQOSGuaranteed,
		Limits{CPUShares: 1024, CPUQuota: 100000, CPUPeriod: 100000, MemoryLimit: 128 << 20}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := Class(tt.pod); c != tt.class {
				t.Errorf("class %s, want %s", c, tt.class)
			}
			if got := PodLimits(tt.pod); got != tt.want {
				t.Errorf("limits %+v, want %+v", got, tt.want)
			}
		})
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEnsureV1(t *testing.T) {
	dir := t.TempDir()
	hs := []Hierarchy{{Path: filepath.Join(dir, "cpu,cpuacct"), Controllers: []string{"cpu", "cpuacct"}},
		{Path: filepath.Join(dir, "memory"), Controllers: []string{"memory"}},
		{Path: filepath.Join(dir, "pids"), Controllers: []string{"pids"}}}
	m, err := New(Config{Root: "/skiff-n1", Hierarchies: hs})
	if err != nil {
		t.Fatal(err)
	}
	full := rl{v1.ResourceCPU: "1", v1.ResourceMemory: "64Mi"}
	cases := []struct {
		pod  *v1.Pod
		path string
		want map[string]string
	}{
		{pod("g", nil, ctr("c", full, full)), "/skiff-n1/kubepods/podu-g", map[string]string{
			"cpu,cpuacct/skiff-n1/kubepods/podu-g/cpu.shares": "1024", "cpu,cpuacct/skiff-n1/kubepods/podu-g/cpu.cfs_quota_us": "100000",
			"memory/skiff-n1/kubepods/podu-g/memory.limit_in_bytes": "67108864"}},
		{pod("b", nil, ctr("c", rl{v1.ResourceCPU: "100m"}, nil)), "/skiff-n1/kubepods/burstable/podu-b", map[string]string{
			"cpu,cpuacct/skiff-n1/kubepods/burstable/podu-b/cpu.shares": "102"}},
		{pod("e", nil, ctr("c", nil, nil)), "/skiff-n1/kubepods/besteffort/podu-e", map[string]string{
			"cpu,cpuacct/skiff-n1/kubepods/besteffort/podu-e/cpu.shares": "2", "cpu,cpuacct/skiff-n1/kubepods/besteffort/cpu.shares": "2"}},
	}
	for _, c := range cases {
		got, err := m.Ensure(c.pod)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.path {
			t.Errorf("path %s, want %s", got, c.path)
		}
		for f, v := range c.want {
			if r := read(t, filepath.Join(dir, f)); r != v {
				t.Errorf("%s = %q, want %q", f, r, v)
			}
		}
		if err := m.Remove(c.pod.UID); err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if _, err := os.Stat(filepath.Join(h.Path, c.path)); !os.IsNotExist(err) {
				t.Errorf("%s left in %s", c.path, h.Path)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "memory/skiff-n1/kubepods/burstable/podu-b")); !os.IsNotExist(err) {
		t.Error("a memory cgroup was made for a pod without a memory limit")
	}
	if m.Remove("never") != nil {
		t.Error("removing a cgroup that was never made failed")
	}
}

func TestEnsureV2(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte("cpuset cpu io memory hugetlb pids\n"), 0o644)
	m, err := New(Config{Root: "/skiff-n1", Hierarchies: []Hierarchy{{Path: dir, Unified: true}}})
	if err != nil {
		t.Fatal(err)
	}
	p := pod("g", nil, ctr("c", rl{v1.ResourceCPU: "500m", v1.ResourceMemory: "32Mi"}, rl{v1.ResourceCPU: "500m", v1.ResourceMemory: "32Mi"}))
	rel, err := m.Ensure(p)
	if err != nil {
		t.Fatal(err)
	}
	pd := filepath.Join(dir, rel)
	for f, want := range map[string]string{
		filepath.Join(dir, "cgroup.subtree_control"):                   "+cpu +memory +pids",
		filepath.Join(dir, "skiff-n1/kubepods/cgroup.subtree_control"): "+cpu +memory +pids",
		filepath.Join(pd, "cpu.weight"):                                "20",
		filepath.Join(pd, "cpu.max"):                                   "50000 100000",
		filepath.Join(pd, "memory.max"):                                "33554432",
	} {
		if got := read(t, f); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	in := `35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
36 25 0:31 / /sys/fs/cgroup/cpu rw,nosuid shared:11 - cgroup cgroup rw,cpu
37 25 0:32 / /sys/fs/cgroup/cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpuacct
38 25 0:33 / /sys/fs/cgroup/systemd rw shared:13 - cgroup cgroup rw,xattr,name=systemd
39 25 0:34 / /sys/fs/cgroup/memory rw shared:14 - cgroup cgroup rw,memory
40 25 0:35 / /proc rw - proc proc rw
`
	hs, err := parseMountinfo(bufio.NewScanner(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 5 || !hs[0].Unified || strings.Join(hs[1].Controllers, ",") != "cpu" || len(hs[3].Controllers) != 0 {
		t.Fatalf("hierarchies %+v", hs)
	}
	m, err := New(Config{Root: "/r", Hierarchies: hs})
	if err != nil {
		t.Fatal(err)
	}
	if m.v2 || m.cpu != "/sys/fs/cgroup/cpu" || m.mem != "/sys/fs/cgroup/memory" {
		t.Errorf("hybrid host read as v2=%v cpu=%s mem=%s", m.v2, m.cpu, m.mem)
	}
	if _, err := New(Config{Root: "relative"}); err == nil {
		t.Error("a relative root was accepted")
	}
}
