package libcontainer

import (
	"slices"
	"testing"

	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-dev/skiff/internal/runtime"
)

func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sec       runtime.Security
		has, hasn []string
	}{
		{"defaults", runtime.Security{}, []string{"CAP_CHOWN", "CAP_KILL"}, []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}},
		{"add short name", runtime.Security{CapAdd: []string{"net_admin"}}, []string{"CAP_NET_ADMIN", "CAP_CHOWN"}, nil},
		{"drop", runtime.Security{CapDrop: []string{"CAP_CHOWN"}}, []string{"CAP_KILL"}, []string{"CAP_CHOWN"}},
		{"drop all add one", runtime.Security{CapDrop: []string{"ALL"}, CapAdd: []string{"NET_BIND_SERVICE"}}, []string{"CAP_NET_BIND_SERVICE"}, []string{"CAP_KILL"}},
		{"privileged", runtime.Security{Privileged: true, CapDrop: []string{"ALL"}}, []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}, nil},
	} {
		got := capabilities(tc.sec)
		for _, c := range tc.has {
			if !slices.Contains(got, c) {
				t.Errorf("%s: %s missing from %v", tc.name, c, got)
			}
		}
		for _, c := range tc.hasn {
			if slices.Contains(got, c) {
				t.Errorf("%s: %s present in %v", tc.name, c, got)
			}
		}
	}
}

func nsTypes(s *specs.Spec) map[specs.LinuxNamespaceType]string {
	m := map[specs.LinuxNamespaceType]string{}
	for _, n := range s.Linux.Namespaces {
		m[n.Type] = n.Path
	}
	return m
}

func TestContainerSpec(t *testing.T) {
	sbx := &sandboxRecord{hostnameFile: "/state/sb/hostname"}
	sbx.ResolvConfPath = "/pods/x/resolv.conf"
	ns := nsPaths{net: "/proc/1/ns/net", ipc: "/proc/1/ns/ipc", uts: "/proc/1/ns/uts"}
	cfg := &runtime.ContainerConfig{Resources: runtime.Resources{CPUQuota: 20000, MemoryLimit: 1 << 20},
		Mounts: []runtime.Mount{{HostPath: "/v", ContainerPath: "/data", ReadOnly: true}}}

	s := containerSpec(cfg, "/r", "/cg/pod/c", "/state/sb/shm", ns, sbx, true)
	got := nsTypes(s)
	if got[specs.NetworkNamespace] != ns.net || got[specs.IPCNamespace] != ns.ipc || got[specs.UTSNamespace] != ns.uts {
		t.Errorf("joined namespaces: %v", got)
	}
	if p, ok := got[specs.PIDNamespace]; !ok || p != "" {
		t.Errorf("a container without shareProcessNamespace gets its own PID namespace: %v", got)
	}
	if *s.Linux.Resources.CPU.Period != 100000 || *s.Linux.Resources.Memory.Swap != 1<<20 {
		t.Errorf("resources: %+v %+v", s.Linux.Resources.CPU, s.Linux.Resources.Memory)
	}
	if len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 || s.Linux.Seccomp == nil {
		t.Errorf("defaults missing: masked %v, readonly %v, seccomp %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Linux.Seccomp != nil)
	}
	dests := map[string]specs.Mount{}
	for _, m := range s.Mounts {
		dests[m.Destination] = m
	}
	if dests["/dev/shm"].Source != "/state/sb/shm" || dests["/etc/resolv.conf"].Source != sbx.ResolvConfPath ||
		dests["/etc/hostname"].Source != sbx.hostnameFile || !slices.Contains(dests["/data"].Options, "ro") {
		t.Errorf("mounts: %+v", s.Mounts)
	}
	if _, ok := dests["/etc/hosts"]; ok {
		t.Errorf("/etc/hosts bound without a hosts file")
	}
	if _, err := toConfig("c", s); err != nil {
		t.Errorf("libcontainer refuses the spec: %v", err)
	}

	// Shared PID namespace, unmasked proc, privileged.
	ns.pid = "/proc/1/ns/pid"
	cfg.Security = runtime.Security{MaskedPaths: []string{}, ReadonlyPaths: []string{}}
	s = containerSpec(cfg, "/r", "/cg/pod/c", "", ns, sbx, false)
	if nsTypes(s)[specs.PIDNamespace] != ns.pid || len(s.Linux.MaskedPaths) != 0 || s.Linux.Seccomp != nil {
		t.Errorf("shared pid / unmasked: %v %v", nsTypes(s), s.Linux.MaskedPaths)
	}
	cfg.Security = runtime.Security{Privileged: true}
	s = containerSpec(cfg, "/r", "/cg/pod/c", "", ns, sbx, true)
	if s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || !s.Linux.Resources.Devices[0].Allow {
		t.Errorf("privileged: seccomp %v, masked %v, devices %+v", s.Linux.Seccomp != nil, s.Linux.MaskedPaths, s.Linux.Resources.Devices)
	}
}

func TestPauseSpec(t *testing.T) {
	for _, tc := range []struct {
		rec  sandboxRecord
		want []specs.LinuxNamespaceType
	}{
		{sandboxRecord{}, []specs.LinuxNamespaceType{specs.MountNamespace, specs.NetworkNamespace, specs.UTSNamespace, specs.IPCNamespace}},
		{sandboxRecord{SandboxConfig: runtime.SandboxConfig{HostNetwork: true, HostIPC: true}}, []specs.LinuxNamespaceType{specs.MountNamespace}},
		{sandboxRecord{SandboxConfig: runtime.SandboxConfig{ShareProcessNamespace: true}}, []specs.LinuxNamespaceType{specs.MountNamespace, specs.NetworkNamespace, specs.UTSNamespace, specs.IPCNamespace, specs.PIDNamespace}},
	} {
		s := pauseSpec(&tc.rec, "/r", "/cg", "/bin/skiff")
		var got []specs.LinuxNamespaceType
		for _, n := range s.Linux.Namespaces {
			got = append(got, n.Type)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: namespaces %v, want %v", tc.rec.SandboxConfig, got, tc.want)
		}
	}
}

func TestDefaultSeccompConverts(t *testing.T) {
	for _, caps := range [][]string{defaultCaps, append(slices.Clone(defaultCaps), "CAP_SYS_ADMIN")} {
		p := defaultSeccomp(caps)
		if _, err := specconv.SetupSeccomp(p); err != nil {
			t.Fatalf("profile does not convert: %v", err)
		}
		admin := slices.Contains(caps, "CAP_SYS_ADMIN")
		allowsMount := slices.Contains(p.Syscalls[0].Names, "mount")
		if allowsMount != admin {
			t.Errorf("caps %v: mount allowed = %v", caps, allowsMount)
		}
		if slices.Contains(p.Syscalls[0].Names, "reboot") || slices.Contains(p.Syscalls[0].Names, "kexec_load") {
			t.Errorf("profile allows reboot or kexec")
		}
	}
}
