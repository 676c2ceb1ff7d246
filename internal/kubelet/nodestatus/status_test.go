package nodestatus

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/skiff-dev/skiff/internal/version"
)

func checkResources(t *testing.T, what string, got corev1.ResourceList, want map[corev1.ResourceName]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s has %d entries, want %d: %v", what, len(got), len(want), got)
	}
	for name, w := range want {
		q, ok := got[name]
		if !ok {
			t.Errorf("%s lacks %s", what, name)
			continue
		}
		if q.Cmp(resource.MustParse(w)) != 0 {
			t.Errorf("%s[%s] = %s, want %s", what, name, q.String(), w)
		}
	}
}

func TestSetResources(t *testing.T) {
	const memKi = 8052664
	memAlloc := func(minusMi int64) string {
		return resource.NewQuantity(memKi*1024-minusMi<<20, resource.BinarySI).String()
	}
	cases := []struct {
		name      string
		mut       func(*Config)
		existing  corev1.NodeStatus
		wantCap   map[corev1.ResourceName]string
		wantAlloc map[corev1.ResourceName]string
	}{
		{
			name: "defaults: eviction thresholds and huge pages come off allocatable",
			wantCap: map[corev1.ResourceName]string{
				"cpu": "4", "memory": "8052664Ki", "pods": "110", "ephemeral-storage": "100Gi",
				"hugepages-2Mi": "4Mi", "hugepages-1Gi": "0",
			},
			wantAlloc: map[corev1.ResourceName]string{
				"cpu": "4", "memory": memAlloc(100 + 4), "pods": "110", "ephemeral-storage": "90Gi",
				"hugepages-2Mi": "4Mi", "hugepages-1Gi": "0",
			},
		},
		{
			name: "reservations and max pods",
			mut: func(c *Config) {
				c.MaxPods = 30
				c.Reserved = corev1.ResourceList{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("1Gi")}
			},
			wantCap: map[corev1.ResourceName]string{
				"cpu": "4", "memory": "8052664Ki", "pods": "30", "ephemeral-storage": "100Gi",
				"hugepages-2Mi": "4Mi", "hugepages-1Gi": "0",
			},
			wantAlloc: map[corev1.ResourceName]string{
				"cpu": "3500m", "memory": memAlloc(1024 + 100 + 4), "pods": "30", "ephemeral-storage": "90Gi",
				"hugepages-2Mi": "4Mi", "hugepages-1Gi": "0",
			},
		},
		{
			name: "extended resources advertised by others stay; stale allocatable goes",
			existing: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{"example.com/dongle": resource.MustParse("3")},
				Allocatable: corev1.ResourceList{"example.com/gone": resource.MustParse("1")},
			},
			mut: func(c *Config) { c.EvictionHard = &Thresholds{}; c.HostRoot = "testdata/host-b"; c.DataDir = "" },
			wantCap: map[corev1.ResourceName]string{
				"cpu": "4", "memory": "1Gi", "pods": "110", "example.com/dongle": "3",
			},
			wantAlloc: map[corev1.ResourceName]string{
				"cpu": "4", "memory": "1Gi", "pods": "110", "example.com/dongle": "3",
			},
		},
		{
			name: "reservation above capacity clamps at zero",
			mut: func(c *Config) {
				c.HostRoot = "testdata/host-b"
				c.Reserved = corev1.ResourceList{"memory": resource.MustParse("2Gi")}
			},
			wantCap:   map[corev1.ResourceName]string{"cpu": "4", "memory": "1Gi", "pods": "110", "ephemeral-storage": "100Gi"},
			wantAlloc: map[corev1.ResourceName]string{"cpu": "4", "memory": "0", "pods": "110", "ephemeral-storage": "90Gi"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAgent(t, tc.mut)
			st := *tc.existing.DeepCopy()
			a.setResources(&st, a.observe())
			checkResources(t, "capacity", st.Capacity, tc.wantCap)
			checkResources(t, "allocatable", st.Allocatable, tc.wantAlloc)
		})
	}
}

func TestSignals(t *testing.T) {
	cases := []struct {
		name string
		root string
		fs   fsStats
		mut  func(*Config)
		want map[corev1.NodeConditionType]bool
	}{
		{"healthy host", "testdata/host-a", fsStats{CapacityBytes: 100, AvailableBytes: 50, Inodes: 100, InodesFree: 90}, nil,
			map[corev1.NodeConditionType]bool{"MemoryPressure": false, "PIDPressure": false}},
		{"disk below 10% free", "testdata/host-a", fsStats{CapacityBytes: 100, AvailableBytes: 9, Inodes: 100, InodesFree: 90}, nil,
			map[corev1.NodeConditionType]bool{"MemoryPressure": false, "DiskPressure": true, "PIDPressure": false}},
		{"inodes below 5% free", "testdata/host-a", fsStats{CapacityBytes: 100, AvailableBytes: 50, Inodes: 100, InodesFree: 4}, nil,
			map[corev1.NodeConditionType]bool{"MemoryPressure": false, "DiskPressure": true, "PIDPressure": false}},
		{"exactly at threshold is no pressure", "testdata/host-a", fsStats{CapacityBytes: 100, AvailableBytes: 10, Inodes: 100, InodesFree: 5}, nil,
			map[corev1.NodeConditionType]bool{"MemoryPressure": false, "PIDPressure": false}},
		{"stressed host: 50Mi free memory, 2 of 64 pids left", "testdata/host-b", fsStats{CapacityBytes: 100, AvailableBytes: 50}, nil,
			map[corev1.NodeConditionType]bool{"MemoryPressure": true, "PIDPressure": true}},
		{"thresholds disabled", "testdata/host-b", fsStats{CapacityBytes: 100, AvailableBytes: 1}, func(c *Config) { c.EvictionHard = &Thresholds{} },
			map[corev1.NodeConditionType]bool{}},
		{"custom memory threshold", "testdata/host-a", fsStats{CapacityBytes: 100, AvailableBytes: 50},
			func(c *Config) {
				th := DefaultThresholds()
				th.MemoryAvailable = resource.MustParse("6Gi")
				c.EvictionHard = &th
			},
			map[corev1.NodeConditionType]bool{"MemoryPressure": true, "PIDPressure": false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAgent(t, func(c *Config) {
				c.HostRoot = tc.root
				if tc.mut != nil {
					tc.mut(c)
				}
			})
			*a.fs = tc.fs
			got := a.signals(a.observe())
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("signals = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPressureTransitionPeriod(t *testing.T) {
	var p pressureState
	period := 5 * time.Minute
	steps := []struct {
		at     time.Duration
		signal bool
		want   bool
	}{
		{0, false, false},
		{10 * time.Second, true, true},
		{20 * time.Second, false, true},                      // recovered, but held on
		{10*time.Second + period - time.Second, false, true}, // still inside the period
		{10*time.Second + period, false, false},              // period over
		{10 * time.Minute, true, true},
	}
	for _, s := range steps {
		got := p.observe(t0.Add(s.at), period, map[corev1.NodeConditionType]bool{corev1.NodeDiskPressure: s.signal})
		if got[corev1.NodeDiskPressure] != s.want {
			t.Errorf("at %v signal %v: DiskPressure %v, want %v", s.at, s.signal, got[corev1.NodeDiskPressure], s.want)
		}
		if got[corev1.NodeMemoryPressure] {
			t.Errorf("at %v: MemoryPressure on without a signal", s.at)
		}
	}
}

func TestConditions(t *testing.T) {
	errRuntime := errors.New("container runtime is down")
	errNet := errors.New("container runtime network not ready: bridge missing")
	cases := []struct {
		name        string
		root        string
		checks      []ReadinessCheck
		fs          fsStats
		wantStatus  map[corev1.NodeConditionType]corev1.ConditionStatus
		wantReason  map[corev1.NodeConditionType]string
		wantMessage map[corev1.NodeConditionType]string
	}{
		{
			name: "healthy and ready",
			root: "testdata/host-a", fs: fsStats{CapacityBytes: 100, AvailableBytes: 50, Inodes: 10, InodesFree: 9},
			wantStatus: map[corev1.NodeConditionType]corev1.ConditionStatus{"MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False", "Ready": "True"},
			wantReason: map[corev1.NodeConditionType]string{
				"MemoryPressure": "KubeletHasSufficientMemory", "DiskPressure": "KubeletHasNoDiskPressure",
				"PIDPressure": "KubeletHasSufficientPID", "Ready": "KubeletReady",
			},
			wantMessage: map[corev1.NodeConditionType]string{
				"MemoryPressure": "kubelet has sufficient memory available", "DiskPressure": "kubelet has no disk pressure",
				"PIDPressure": "kubelet has sufficient PID available", "Ready": "kubelet is posting ready status",
			},
		},
		{
			name: "one failing check", root: "testdata/host-a", fs: fsStats{CapacityBytes: 100, AvailableBytes: 50},
			checks:      []ReadinessCheck{func() error { return nil }, func() error { return errNet }},
			wantStatus:  map[corev1.NodeConditionType]corev1.ConditionStatus{"Ready": "False"},
			wantReason:  map[corev1.NodeConditionType]string{"Ready": "KubeletNotReady"},
			wantMessage: map[corev1.NodeConditionType]string{"Ready": errNet.Error()},
		},
		{
			name: "two failing checks aggregate", root: "testdata/host-a", fs: fsStats{CapacityBytes: 100, AvailableBytes: 50},
			checks:      []ReadinessCheck{func() error { return errRuntime }, func() error { return errNet }},
			wantStatus:  map[corev1.NodeConditionType]corev1.ConditionStatus{"Ready": "False"},
			wantMessage: map[corev1.NodeConditionType]string{"Ready": "[" + errRuntime.Error() + ", " + errNet.Error() + "]"},
		},
		{
			name: "stressed host under pressure", root: "testdata/host-b", fs: fsStats{CapacityBytes: 100, AvailableBytes: 1},
			wantStatus: map[corev1.NodeConditionType]corev1.ConditionStatus{"MemoryPressure": "True", "DiskPressure": "True", "PIDPressure": "True", "Ready": "True"},
			wantReason: map[corev1.NodeConditionType]string{
				"MemoryPressure": "KubeletHasInsufficientMemory", "DiskPressure": "KubeletHasDiskPressure", "PIDPressure": "KubeletHasInsufficientPID",
			},
			wantMessage: map[corev1.NodeConditionType]string{
				"MemoryPressure": "kubelet has insufficient memory available", "DiskPressure": "kubelet has disk pressure",
				"PIDPressure": "kubelet has insufficient PID available",
			},
		},
		{
			name: "memory unknown: not ready for missing capacity", root: "/nonexistent-root", fs: fsStats{CapacityBytes: 100, AvailableBytes: 50},
			wantStatus:  map[corev1.NodeConditionType]corev1.ConditionStatus{"Ready": "False", "MemoryPressure": "False"},
			wantMessage: map[corev1.NodeConditionType]string{"Ready": "missing node capacity for resources: memory"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAgent(t, func(c *Config) { c.HostRoot = tc.root; c.ReadinessChecks = tc.checks })
			*a.fs = tc.fs
			n := &corev1.Node{}
			a.setStatus(n, a.observe(), t0)
			var order []string
			for _, c := range n.Status.Conditions {
				order = append(order, string(c.Type))
				if !c.LastHeartbeatTime.Time.Equal(t0) || !c.LastTransitionTime.Time.Equal(t0) {
					t.Errorf("%s: times %v/%v, want both %v", c.Type, c.LastHeartbeatTime, c.LastTransitionTime, t0)
				}
			}
			if got := strings.Join(order, ","); got != "MemoryPressure,DiskPressure,PIDPressure,Ready" {
				t.Errorf("condition order %s, want upstream's", got)
			}
			for typ, want := range tc.wantStatus {
				if c := condition(n, typ); c == nil || c.Status != want {
					t.Errorf("%s = %+v, want status %s", typ, c, want)
				}
			}
			for typ, want := range tc.wantReason {
				if c := condition(n, typ); c == nil || c.Reason != want {
					t.Errorf("%s reason = %+v, want %s", typ, c, want)
				}
			}
			for typ, want := range tc.wantMessage {
				if c := condition(n, typ); c == nil || c.Message != want {
					t.Errorf("%s message = %+v, want %q", typ, c, want)
				}
			}
		})
	}
}

func TestConditionTimes(t *testing.T) {
	ready := true
	a := newTestAgent(t, func(c *Config) {
		c.ReadinessChecks = []ReadinessCheck{func() error {
			if ready {
				return nil
			}
			return errors.New("runtime down")
		}}
	})
	n := &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: "KernelDeadlock", Status: "False", Reason: "KernelHasNoDeadlock"}, // node-problem-detector's
	}}}
	if ev := a.setStatus(n, a.observe(), t0); len(ev) != 4 {
		t.Errorf("first status: events %v, want one per new condition", ev)
	}
	t1 := t0.Add(10 * time.Second)
	if ev := a.setStatus(n, a.observe(), t1); len(ev) != 0 {
		t.Errorf("unchanged status: events %v", ev)
	}
	r := condition(n, corev1.NodeReady)
	if !r.LastHeartbeatTime.Time.Equal(t1) || !r.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("steady Ready: heartbeat %v transition %v", r.LastHeartbeatTime, r.LastTransitionTime)
	}
	ready = false
	t2 := t1.Add(10 * time.Second)
	ev := a.setStatus(n, a.observe(), t2)
	if len(ev) != 1 || ev[0] != "NodeNotReady" {
		t.Errorf("events %v, want [NodeNotReady]", ev)
	}
	r = condition(n, corev1.NodeReady)
	if r.Status != "False" || !r.LastTransitionTime.Time.Equal(t2) || r.Message != "runtime down" {
		t.Errorf("Ready after failure: %+v", r)
	}
	if c := condition(n, "KernelDeadlock"); c == nil || c.Reason != "KernelHasNoDeadlock" || n.Status.Conditions[0].Type != "KernelDeadlock" {
		t.Errorf("foreign condition not kept in place: %+v", n.Status.Conditions)
	}
}

func TestNodeInfoAndAddresses(t *testing.T) {
	a := newTestAgent(t, func(c *Config) { c.Hostname = "host-1"; c.KubeletPort = 10350; c.SystemUUID = "override-uuid" })
	n := &corev1.Node{}
	a.setStatus(n, a.observe(), t0)
	swap := int64(2097148 * 1024)
	want := corev1.NodeSystemInfo{
		MachineID: "3d1219c7c4c5404aaa1f6d2a48adfda4", SystemUUID: "override-uuid",
		BootID: "2fe24db5-683d-43f4-a57d-012a029bc3e4", KernelVersion: "6.1.0-28-amd64",
		OSImage: "Debian GNU/Linux 12 (bookworm)", ContainerRuntimeVersion: "skiff://" + version.Version,
		KubeletVersion: version.GitVersion(), OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH,
		Swap: &corev1.NodeSwapStatus{Capacity: &swap},
	}
	if !equality.Semantic.DeepEqual(n.Status.NodeInfo, want) {
		t.Errorf("nodeInfo = %+v\nwant %+v", n.Status.NodeInfo, want)
	}
	wantAddrs := []corev1.NodeAddress{{Type: "InternalIP", Address: "10.0.0.5"}, {Type: "Hostname", Address: "host-1"}}
	if !equality.Semantic.DeepEqual(n.Status.Addresses, wantAddrs) {
		t.Errorf("addresses = %v", n.Status.Addresses)
	}
	if n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10350 {
		t.Errorf("daemonEndpoints = %+v", n.Status.DaemonEndpoints)
	}
}

func TestStatusChanged(t *testing.T) {
	base := corev1.NodeStatus{
		Capacity: corev1.ResourceList{"cpu": resource.MustParse("4")},
		Conditions: []corev1.NodeCondition{
			{Type: "MemoryPressure", Status: "False", Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: metav1.NewTime(t0)},
			{Type: "Ready", Status: "True", Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(t0)},
		},
	}
	cases := []struct {
		name string
		mut  func(*corev1.NodeStatus)
		want bool
	}{
		{"identical", func(*corev1.NodeStatus) {}, false},
		{"heartbeat only", func(s *corev1.NodeStatus) {
			for i := range s.Conditions {
				s.Conditions[i].LastHeartbeatTime = metav1.NewTime(t0.Add(time.Minute))
			}
		}, false},
		{"conditions reordered", func(s *corev1.NodeStatus) { s.Conditions[0], s.Conditions[1] = s.Conditions[1], s.Conditions[0] }, false},
		{"same quantity spelled differently", func(s *corev1.NodeStatus) { s.Capacity["cpu"] = resource.MustParse("4000m") }, false},
		{"status flipped", func(s *corev1.NodeStatus) { s.Conditions[1].Status = "False" }, true},
		{"message changed", func(s *corev1.NodeStatus) { s.Conditions[1].Message = "x" }, true},
		{"condition added", func(s *corev1.NodeStatus) { s.Conditions = append(s.Conditions, corev1.NodeCondition{Type: "X"}) }, true},
		{"capacity changed", func(s *corev1.NodeStatus) { s.Capacity["cpu"] = resource.MustParse("2") }, true},
		{"boot id changed", func(s *corev1.NodeStatus) { s.NodeInfo.BootID = "new" }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := base.DeepCopy()
			tc.mut(n)
			if got := statusChanged(&base, n); got != tc.want {
				t.Errorf("statusChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStatusPatch applies each patch the way the API server does and checks it lands on exactly
// the desired status.
func TestStatusPatch(t *testing.T) {
	old := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"a": "b"}},
		Spec:       corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{"cpu": resource.MustParse("4"), "ephemeral-storage": resource.MustParse("1Gi")},
			Addresses: []corev1.NodeAddress{
				{Type: "InternalIP", Address: "10.0.0.5"}, {Type: "InternalIP", Address: "fd00::5"}, {Type: "Hostname", Address: "n1"},
			},
			Conditions: []corev1.NodeCondition{
				{Type: "Ready", Status: "True", Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(t0)},
				{Type: ConditionHostSettingsRefused, Status: "True", Reason: ReasonHostSettingsRefused, Message: "x"},
			},
		},
	}
	cases := []struct {
		name     string
		mut      func(*corev1.NodeStatus)
		contains []string
		absent   []string
	}{
		{"heartbeat only", func(s *corev1.NodeStatus) { s.Conditions[0].LastHeartbeatTime = metav1.NewTime(t0.Add(time.Minute)) },
			[]string{"lastHeartbeatTime"}, []string{"addresses", "capacity", "spec", "metadata"}},
		{"second InternalIP dropped replaces the list", func(s *corev1.NodeStatus) {
			s.Addresses = []corev1.NodeAddress{{Type: "InternalIP", Address: "10.0.0.6"}, {Type: "Hostname", Address: "n1"}}
		}, []string{`"$patch":"replace"`}, []string{"conditions"}},
		{"condition and capacity removed", func(s *corev1.NodeStatus) {
			s.Conditions = s.Conditions[:1]
			delete(s.Capacity, "ephemeral-storage")
		}, []string{`"$patch":"delete"`, `"ephemeral-storage":null`}, []string{"addresses"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			desired := old.DeepCopy()
			tc.mut(&desired.Status)
			patch, err := statusPatch(&old, desired)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.contains {
				if !strings.Contains(string(patch), s) {
					t.Errorf("patch %s lacks %s", patch, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(string(patch), `"`+s+`"`) {
					t.Errorf("patch %s touches %s", patch, s)
				}
			}
			oldJSON, _ := json.Marshal(old)
			out, err := strategicpatch.StrategicMergePatch(oldJSON, patch, corev1.Node{})
			if err != nil {
				t.Fatal(err)
			}
			var got corev1.Node
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, *desired) {
				t.Errorf("patched node differs:\n got %+v\nwant %+v", got.Status, desired.Status)
			}
		})
	}
}
