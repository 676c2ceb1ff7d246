package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	lc "github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/runtime"
	rtlc "github.com/skiff-dev/skiff/internal/runtime/libcontainer"
	"github.com/skiff-dev/skiff/internal/runtime/runtimetest"
)

// BenchmarkRuntimeStart measures, in one run on the same busybox rootfs:
//   - pod: RunPodSandbox + CreateContainer + StartContainer until the container runs (the
//     runtime's share of a pod start; no API server, no network);
//   - floor: a bare libcontainer create + run + wait + destroy of /bin/true;
//   - exec: an ExecSync of `true` (what an exec probe costs; the container's shim starts it),
//     100 ms after the previous one, the container's first apart (exec1: it works out what the
//     container's execs get);
//   - lcexec: the same `true` through libcontainer's own exec (Load + Run + Wait of a process in
//     the container: the re-exec of the binary as its setns init), what ExecSync cost before;
//   - the shim's RssAnon (idle, and after the execs).
//
// Run: go test -run '^$' -bench RuntimeStart -benchtime 1x ./bench (as root).
func BenchmarkRuntimeStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	img := runtimetest.BusyboxRootfs(b)
	cgroot := "/skiff-bench-" + randHex()
	defer removeCgroupTree(cgroot)
	state := b.TempDir()
	r, err := rtlc.New(rtlc.Config{StateDir: state, Images: img})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()

	floorRootfs := filepath.Join(b.TempDir(), "rootfs")
	upper, work := filepath.Join(filepath.Dir(floorRootfs), "upper"), filepath.Join(filepath.Dir(floorRootfs), "work")
	for _, d := range []string{floorRootfs, upper, work} {
		os.MkdirAll(d, 0o755)
	}
	if err := unix.Mount("overlay", floorRootfs, "overlay", 0, fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", img.Lowers[0], upper, work)); err != nil {
		b.Fatal(err)
	}
	defer unix.Unmount(floorRootfs, unix.MNT_DETACH)
	lcRoot := b.TempDir()

	const iterations = 30
	var pod, floor, exec1, exec, lcexec latencies
	// CPU time, which moves less with the machine's load than wall time: charged to the node's
	// cgroup tree (the containers' inits; cpuacct counts a removed cgroup's time in its parents)
	// and to this process (the runtime's side), per pod start and per floor run.
	var podCPU, floorCPU, agentCPU latencies
	var shimAnon, shimAnonAfter int64
	for i := 0; i < iterations; i++ {
		// floor
		t0, cg0 := time.Now(), cgroupCPU(cgroot)
		if err := bareRun(lcRoot, floorRootfs, fmt.Sprintf("floor%d", i), cgroot); err != nil {
			b.Fatal(err)
		}
		floor = append(floor, time.Since(t0))
		floorCPU = append(floorCPU, cgroupCPU(cgroot)-cg0)

		// pod
		t0, cg0, self0 := time.Now(), cgroupCPU(cgroot), processCPU()
		uid := fmt.Sprintf("bench%d", i)
		sb, err := r.RunPodSandbox(ctx, &runtime.SandboxConfig{Name: uid, Namespace: "bench", UID: uid, CgroupParent: cgroot + "/pod" + uid})
		if err != nil {
			b.Fatal(err)
		}
		id, err := r.CreateContainer(ctx, sb, &runtime.ContainerConfig{Name: "c", Image: img.Name, Command: []string{"sleep", "3600"}, LogPath: filepath.Join(state, uid+".log")})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.StartContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
		if st, err := r.ContainerStatus(ctx, id); err != nil || st.State != runtime.ContainerRunning {
			b.Fatalf("container not running: %+v %v", st, err)
		}
		pod = append(pod, time.Since(t0))
		podCPU = append(podCPU, cgroupCPU(cgroot)-cg0)
		agentCPU = append(agentCPU, processCPU()-self0)

		if i == 0 {
			shimAnon = shimRssAnon(filepath.Join(state, "containers", id))
		}
		// exec probes: the container's first (the runtime works out its exec profile), the next
		// ones, and libcontainer's exec
		probe := func(into *latencies) {
			t0 := time.Now()
			res, err := r.ExecSync(ctx, id, []string{"true"}, 5*time.Second)
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("exec: %+v %v", res, err)
			}
			*into = append(*into, time.Since(t0))
		}
		// Probes come every few seconds, not back to back: each one here follows a pause, so that
		// it finds no kernel state warm from the one before (a cgroup migration's grace period).
		probe(&exec1)
		for range 3 {
			time.Sleep(100 * time.Millisecond)
			probe(&exec)
		}
		time.Sleep(100 * time.Millisecond)
		t0 = time.Now()
		if err := lcExec(filepath.Join(state, "lc"), id); err != nil {
			b.Fatal(err)
		}
		lcexec = append(lcexec, time.Since(t0))
		if i == 0 {
			shimAnonAfter = shimRssAnon(filepath.Join(state, "containers", id))
		}
		if err := r.RemovePodSandbox(ctx, sb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(ms(pod.pct(0.5)), "pod-p50-ms")
	b.ReportMetric(ms(pod.pct(0.99)), "pod-p99-ms")
	b.ReportMetric(ms(floor.pct(0.5)), "floor-p50-ms")
	b.ReportMetric(ms(pod.pct(0.5))/ms(floor.pct(0.5)), "pod/floor")
	b.ReportMetric(ms(exec.pct(0.5)), "exec-p50-ms")
	b.ReportMetric(ms(exec1.pct(0.5)), "exec1-p50-ms")
	b.ReportMetric(ms(lcexec.pct(0.5)), "lcexec-p50-ms")
	b.ReportMetric(float64(shimAnon)/1024, "shim-RssAnon-kB")
	b.ReportMetric(ms(podCPU.pct(0.5)), "pod-cgroup-cpu-ms")
	b.ReportMetric(ms(agentCPU.pct(0.5)), "pod-agent-cpu-ms")
	b.ReportMetric(ms(floorCPU.pct(0.5)), "floor-cgroup-cpu-ms")
	fmt.Fprintf(os.Stderr, "runtime start over %d runs: pod p50 %.1f ms p99 %.1f ms; floor p50 %.1f ms p99 %.1f ms; ratio %.2f; CPU p50: pod's cgroups %.1f ms + agent %.1f ms, floor's cgroup %.1f ms; load %s; exec p50 %.1f ms p99 %.1f ms (first in a container p50 %.1f ms); libcontainer exec p50 %.1f ms p99 %.1f ms; shim RssAnon %d kB (%d kB after 5 execs)\n",
		iterations, ms(pod.pct(0.5)), ms(pod.pct(0.99)), ms(floor.pct(0.5)), ms(floor.pct(0.99)),
		ms(pod.pct(0.5))/ms(floor.pct(0.5)), ms(podCPU.pct(0.5)), ms(agentCPU.pct(0.5)), ms(floorCPU.pct(0.5)), loadavg(), ms(exec.pct(0.5)), ms(exec.pct(0.99)), ms(exec1.pct(0.5)),
		ms(lcexec.pct(0.5)), ms(lcexec.pct(0.99)), shimAnon/1024, shimAnonAfter/1024)
}

// lcExec runs `true` in container id through libcontainer's exec, as the runtime's tty execs
// (and all of its execs before the shim ran them) do.
func lcExec(root, id string) error {
	c, err := lc.Load(root, id)
	if err != nil {
		return err
	}
	p := &lc.Process{Args: []string{"true"}, Env: []string{"PATH=/bin:/usr/bin"}, Cwd: "/"}
	if err := c.Run(p); err != nil {
		return err
	}
	ps, err := p.Wait()
	if err != nil {
		return err
	}
	if !ps.Success() {
		return fmt.Errorf("true: %v", ps)
	}
	return nil
}

// bareRun is the floor: libcontainer alone, create + run + wait + destroy of /bin/true.
func bareRun(root, rootfs, id, cgroot string) error {
	spec := specconv.Example()
	spec.Root = &specs.Root{Path: rootfs}
	spec.Process.Args = []string{"/bin/true"}
	spec.Process.Terminal = false
	spec.Linux.CgroupsPath = cgroot + "/" + id
	spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace},
		{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace}}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: id, Spec: spec, NoNewKeyring: true})
	if err != nil {
		return err
	}
	c, err := lc.Create(root, id, cfg)
	if err != nil {
		return err
	}
	defer c.Destroy()
	p := &lc.Process{Args: spec.Process.Args, Env: spec.Process.Env, Cwd: "/", Init: true}
	if err := c.Run(p); err != nil {
		return err
	}
	ps, err := p.Wait()
	if err != nil {
		return err
	}
	if !ps.Success() {
		return fmt.Errorf("/bin/true: %v", ps)
	}
	return nil
}

func shimRssAnon(dir string) int64 {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && len(cmd) > 0 && string(cmd[:min(len(cmd), len("skiff-shim\x00"+dir))]) == "skiff-shim\x00"+dir {
			var pid int
			fmt.Sscan(e.Name(), &pid)
			anon, _ := memory(pid)
			return anon
		}
	}
	return 0
}

func randHex() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func removeCgroupTree(rel string) {
	for _, mp := range []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "systemd", "unified", ""} {
		dir := filepath.Join("/sys/fs/cgroup", mp, rel)
		var dirs []string
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
}
