package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/kubelet"
	"github.com/skiff-dev/skiff/internal/network/nettest"
	"github.com/skiff-dev/skiff/internal/network/overlay"
	"github.com/skiff-dev/skiff/internal/runtime/image"
	"github.com/skiff-dev/skiff/internal/runtime/runtimetest"
	skiffserver "github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/images/testimages"
)

// podNode is an in-process `skiff server` with its node agent on, the agent in a network
// namespace of its own and every host name (cgroup root, agent dir) derived from a random suffix.
type podNode struct {
	client   kubernetes.Interface
	node     string
	agentDir string
	cgroot   string
	image    string
}

// startPodNode runs the server and agent in this process (so -cpuprofile sees the agent), with the
// busybox test image imported into the agent's store. The agent's node IP is loopback and it runs
// no overlay.
func startPodNode(b *testing.B) *podNode { return startPodNodeWith(b, false) }

// overlayPeers is how many other (fake) nodes the overlay variant programs routes to.
const overlayPeers = 10

// startPodNodeWith runs the node as startPodNode does or, with withOverlay, on a LAN host of its
// own (node IP on eth0) with the VXLAN overlay on (bridge and veth MTU 1450) and overlayPeers fake
// peer Nodes, each with a pod CIDR and overlay annotations, so that the overlay has routes,
// neighbour and FDB entries to keep while pods start.
func startPodNodeWith(b *testing.B, withOverlay bool) *podNode {
	b.Helper()
	return startPodNodeConfig(b, withOverlay, nil)
}

// startPodNodeConfig is startPodNodeWith with the server's config adjusted further by mutate
// (the storage benchmarks turn the scheduler and the controllers on).
func startPodNodeConfig(b *testing.B, withOverlay bool, mutate func(*skiffserver.Config)) *podNode {
	b.Helper()
	var ns *nettest.Namespace
	nodeIP, mode := net.ParseIP("127.0.0.1"), kubelet.OverlayNone
	if withOverlay {
		h := nettest.NewLAN(b, 1).Hosts[0]
		ns, nodeIP, mode = h.Namespace, h.IP.AsSlice(), kubelet.OverlayVXLAN
	} else {
		ns = nettest.NewNamespace(b, "node")
	}
	set := testimages.Ensure(b)
	suffix := randHex()
	n := &podNode{node: "bench-" + suffix, cgroot: "/skiff-bench-" + suffix, image: set.Ref(testimages.Busybox)}
	dir, err := os.MkdirTemp("", "skiff-bench-agent-")
	if err != nil {
		b.Fatal(err)
	}
	n.agentDir = dir
	b.Cleanup(func() { removeCgroupTree(n.cgroot); os.RemoveAll(dir) })
	store, err := image.Open(image.Config{Root: filepath.Join(dir, "images")})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Import(context.Background(), set.Images[testimages.Busybox].Archive); err != nil {
		b.Fatal(err)
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := testserver.Start(b, testserver.Options{Mutate: func(cfg *skiffserver.Config) {
		cfg.DisableAgent = false
		cfg.Agent = kubelet.Config{NodeName: n.node, NodeIP: nodeIP, DataDir: dir, Overlay: mode,
			CgroupRoot: n.cgroot, PodCIDR: "198.19.0.0/23", NetNS: ns.Path, APIListener: apiLn}
		if mutate != nil {
			mutate(cfg)
		}
	}})
	if s.Agent == nil {
		b.Fatal("the server did not start its node agent")
	}
	n.client = s.Client
	if withOverlay {
		for i := range overlayPeers {
			peer := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("peer%d-%s", i, suffix), Annotations: map[string]string{
				overlay.AnnotationMAC: overlay.DeviceMAC(fmt.Sprintf("peer%d", i)).String(), overlay.AnnotationPublicIP: fmt.Sprintf("198.18.0.%d", 10+i)}},
				Spec: v1.NodeSpec{PodCIDR: fmt.Sprintf("198.19.%d.0/24", 10+i), PodCIDRs: []string{fmt.Sprintf("198.19.%d.0/24", 10+i)}}}
			if _, err := n.client.CoreV1().Nodes().Create(context.Background(), peer, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Pods go before the server does, so that the agent tears them down.
	b.Cleanup(func() { n.deleteAll(b) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		nd, err := n.client.CoreV1().Nodes().Get(context.Background(), n.node, metav1.GetOptions{})
		if err == nil && nodeReady(nd) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("node %s not Ready: %v", n.node, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n
}

func nodeReady(nd *v1.Node) bool {
	for _, c := range nd.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func (n *podNode) pod(name string) *v1.Pod {
	zero := int64(0)
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench": "pods"}},
		Spec: v1.PodSpec{
			NodeName:                      n.node,
			TerminationGracePeriodSeconds: &zero,
			Containers: []v1.Container{{Name: "c", Image: n.image, ImagePullPolicy: v1.PullNever,
				Command: []string{"sleep", "3600"}}},
		},
	}
}

func (n *podNode) deleteAll(b *testing.B) {
	ctx := context.Background()
	zero := int64(0)
	n.client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	n.waitNoPods(b, 120*time.Second)
	n.waitIdle(b, 120*time.Second)
}

func (n *podNode) waitNoPods(b *testing.B, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l, err := n.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if err == nil && len(l.Items) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Errorf("pods still there after %v", timeout)
}

// waitIdle waits until the agent has no shim left: a pod deleted with grace 0 leaves the API at
// once, while the agent still tears it down.
func (n *podNode) waitIdle(b *testing.B, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, _ := shimsRssAnon(filepath.Join(n.agentDir, "runtime")); c == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Errorf("containers still running after %v", timeout)
}

// podWatcher records, per pod name, when a watch first showed it Running and Ready.
type podWatcher struct {
	mu      sync.Mutex
	running map[string]time.Time
	ready   map[string]time.Time
	changed chan struct{}
	stop    func()
}

func (n *podNode) watch(b *testing.B) *podWatcher {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := n.client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	pw := &podWatcher{running: map[string]time.Time{}, ready: map[string]time.Time{}, changed: make(chan struct{}, 1), stop: cancel}
	go func() {
		for ev := range w.ResultChan() {
			now := time.Now()
			p, ok := ev.Object.(*v1.Pod)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			pw.mu.Lock()
			if _, seen := pw.running[p.Name]; !seen && p.Status.Phase == v1.PodRunning {
				pw.running[p.Name] = now
			}
			if _, seen := pw.ready[p.Name]; !seen && podReady(p) {
				pw.ready[p.Name] = now
			}
			pw.mu.Unlock()
			select {
			case pw.changed <- struct{}{}:
			default:
			}
		}
	}()
	b.Cleanup(cancel)
	return pw
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// waitFor blocks until cond holds over the recorded times or the timeout passes.
func (pw *podWatcher) waitFor(timeout time.Duration, cond func(running, ready map[string]time.Time) bool) bool {
	deadline := time.After(timeout)
	for {
		pw.mu.Lock()
		ok := cond(pw.running, pw.ready)
		pw.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-pw.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return false
		}
	}
}

// floor runs the bare libcontainer start (bareRun, as in BenchmarkRuntimeStart) of /bin/true
// from a busybox rootfs; each call is one sample.
type floor struct {
	root, rootfs, cgroot string
	n                    int
}

func newFloor(b *testing.B, cgroot string) *floor {
	img := runtimetest.BusyboxRootfs(b)
	base := b.TempDir()
	f := &floor{root: filepath.Join(base, "lc"), rootfs: filepath.Join(base, "rootfs"), cgroot: cgroot}
	upper, work := filepath.Join(base, "upper"), filepath.Join(base, "work")
	for _, d := range []string{f.rootfs, upper, work, f.root} {
		os.MkdirAll(d, 0o755)
	}
	if err := unix.Mount("overlay", f.rootfs, "overlay", 0, fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", img.Lowers[0], upper, work)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Unmount(f.rootfs, unix.MNT_DETACH); removeCgroupTree(cgroot) })
	return f
}

func (f *floor) run(b *testing.B) time.Duration {
	f.n++
	t0 := time.Now()
	if err := bareRun(f.root, f.rootfs, fmt.Sprintf("floor%d", f.n), f.cgroot); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// BenchmarkPodStart measures a single pod's start through the whole system, in-process server and
// agent: from Create returning to a watcher seeing the pod Running (and, separately, Ready), 30
// pods one after another, each deleted (gone from the API and its containers torn down) before the
// next is created, so every start sees an idle node. The floor (a bare libcontainer start of /bin/true from a busybox rootfs) is
// sampled before each pod in the same run.
//
// Run: go test -run '^$' -bench PodStart -benchtime 1x ./bench (as root).
func BenchmarkPodStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	podStart(b, startPodNode(b))
}

// BenchmarkPodStartOverlay measures what pod networking as on a node of a cluster adds to a pod's
// start: two nodes in this process, one as BenchmarkPodStart's (loopback node IP, no overlay) and
// one on a LAN host with the VXLAN overlay on and overlayPeers peers (see startPodNodeWith), start
// one pod each in turn (the order alternating), 30 rounds after one untimed round. Pairing the
// starts keeps the comparison fair on a machine whose load drifts.
//
// Run: go test -run '^$' -bench PodStartOverlay -benchtime 1x ./bench (as root).
func BenchmarkPodStartOverlay(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	off, on := startPodNodeWith(b, false), startPodNodeWith(b, true)
	offW, onW := off.watch(b), on.watch(b)
	const iterations = 30
	var offRun, onRun, diffs latencies
	var diffSum time.Duration
	for i := -1; i < iterations; i++ {
		order := []bool{false, true}
		if i%2 != 0 {
			order = []bool{true, false}
		}
		var got [2]time.Duration
		for _, withOverlay := range order {
			n, w := off, offW
			if withOverlay {
				n, w = on, onW
			}
			running, _ := n.startOne(b, w, fmt.Sprintf("pair%d", i+1))
			if withOverlay {
				got[1] = running
			} else {
				got[0] = running
			}
		}
		if i >= 0 {
			offRun, onRun = append(offRun, got[0]), append(onRun, got[1])
			diffs = append(diffs, got[1]-got[0]+time.Hour) // shifted: pct sorts durations, negatives included
			diffSum += got[1] - got[0]
		}
	}
	medianDiff := diffs.pct(0.5) - time.Hour
	b.ReportMetric(ms(offRun.pct(0.5)), "off-running-p50-ms")
	b.ReportMetric(ms(onRun.pct(0.5)), "on-running-p50-ms")
	b.ReportMetric(ms(offRun.pct(0.99)), "off-running-p99-ms")
	b.ReportMetric(ms(onRun.pct(0.99)), "on-running-p99-ms")
	b.ReportMetric(ms(medianDiff), "paired-diff-p50-ms")
	fmt.Fprintf(os.Stderr, "pod start, %d pairs: overlay off Running p50 %.1f ms p99 %.1f ms; overlay on p50 %.1f ms p99 %.1f ms; on - off: p50 of paired differences %+.1f ms, mean %+.1f ms; load %s\n",
		iterations, ms(offRun.pct(0.5)), ms(offRun.pct(0.99)), ms(onRun.pct(0.5)), ms(onRun.pct(0.99)),
		ms(medianDiff), ms(diffSum)/iterations, loadavg())
}

// startOne creates a pod, waits for a watcher to see it Running and Ready, then deletes it and
// waits until the node is idle again; it returns the times from Create to Running and to Ready.
func (n *podNode) startOne(b *testing.B, pw *podWatcher, name string) (running, ready time.Duration) {
	ctx := context.Background()
	zero := int64(0)
	if _, err := n.client.CoreV1().Pods("default").Create(ctx, n.pod(name), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	created := time.Now()
	if !pw.waitFor(30*time.Second, func(run, rdy map[string]time.Time) bool {
		_, a := run[name]
		_, c := rdy[name]
		return a && c
	}) {
		b.Fatalf("pod %s not Running and Ready within 30 s", name)
	}
	pw.mu.Lock()
	running, ready = pw.running[name].Sub(created), pw.ready[name].Sub(created)
	pw.mu.Unlock()
	if err := n.client.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		b.Fatal(err)
	}
	n.waitNoPods(b, 30*time.Second)
	n.waitIdle(b, 30*time.Second)
	return running, ready
}

func podStart(b *testing.B, n *podNode) {
	fl := newFloor(b, "/skiff-bench-floor-"+randHex())
	pw := n.watch(b)
	ctx := context.Background()
	zero := int64(0)

	const iterations = 30
	var running, ready, floors, teardown latencies
	// One untimed pod first: the first start pays one-time costs (image config read, bridge).
	for i := -1; i < iterations; i++ {
		f := fl.run(b)
		name := fmt.Sprintf("start%d", i+1)
		if _, err := n.client.CoreV1().Pods("default").Create(ctx, n.pod(name), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		created := time.Now()
		if !pw.waitFor(30*time.Second, func(run, rdy map[string]time.Time) bool {
			_, a := run[name]
			_, c := rdy[name]
			return a && c
		}) {
			b.Fatalf("pod %s not Running and Ready within 30 s", name)
		}
		if i >= 0 {
			pw.mu.Lock()
			running = append(running, pw.running[name].Sub(created))
			ready = append(ready, pw.ready[name].Sub(created))
			pw.mu.Unlock()
			floors = append(floors, f)
		}
		if err := n.client.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			b.Fatal(err)
		}
		deleted := time.Now()
		n.waitNoPods(b, 30*time.Second)
		n.waitIdle(b, 30*time.Second)
		if i >= 0 {
			teardown = append(teardown, time.Since(deleted))
		}
	}
	ratio := ms(running.pct(0.5)) / ms(floors.pct(0.5))
	b.ReportMetric(ms(running.pct(0.5)), "running-p50-ms")
	b.ReportMetric(ms(running.pct(0.99)), "running-p99-ms")
	b.ReportMetric(ms(ready.pct(0.5)), "ready-p50-ms")
	b.ReportMetric(ms(ready.pct(0.99)), "ready-p99-ms")
	b.ReportMetric(ms(floors.pct(0.5)), "floor-p50-ms")
	b.ReportMetric(ratio, "pod/floor")
	b.ReportMetric(ms(teardown.pct(0.5)), "teardown-p50-ms")
	fmt.Fprintf(os.Stderr, "pod start over %d pods: Running p50 %.1f ms p99 %.1f ms; Ready p50 %.1f ms p99 %.1f ms; floor p50 %.1f ms p99 %.1f ms; ratio %.2f; delete (grace 0) to containers gone p50 %.0f ms; load %s\n",
		iterations, ms(running.pct(0.5)), ms(running.pct(0.99)), ms(ready.pct(0.5)), ms(ready.pct(0.99)),
		ms(floors.pct(0.5)), ms(floors.pct(0.99)), ratio, ms(teardown.pct(0.5)), loadavg())
}

// BenchmarkPodBurst100 creates 100 pods from 4 concurrent creators and measures until a watcher
// has seen every one Running; it then reports the shims' RssAnon per running container and
// deletes them all.
//
// Run: go test -run '^$' -bench PodBurst100 -benchtime 1x ./bench (as root).
func BenchmarkPodBurst100(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	n := startPodNode(b)
	pw := n.watch(b)
	ctx := context.Background()
	const pods, creators = 100, 4

	selfCPU0 := processCPU()
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, pods)
	for c := 0; c < creators; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; i < pods; i += creators {
				if _, err := n.client.CoreV1().Pods("default").Create(ctx, n.pod(fmt.Sprintf("burst%d", i)), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}(c)
	}
	wg.Wait()
	created := time.Since(t0)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var allRunning, allReady time.Duration
	if !pw.waitFor(120*time.Second, func(run, _ map[string]time.Time) bool { return len(run) == pods }) {
		pw.mu.Lock()
		got := len(pw.running)
		pw.mu.Unlock()
		b.Fatalf("only %d of %d pods Running after 120 s", got, pods)
	}
	allRunning = time.Since(t0)
	// Where the CPU went: this process (API server, etcd, agent, client) against the pods'
	// cgroups (each container's init re-exec of the binary, then the container itself).
	selfCPU := processCPU() - selfCPU0
	podsCPU := cgroupCPU(n.cgroot)
	if pw.waitFor(60*time.Second, func(_, rdy map[string]time.Time) bool { return len(rdy) == pods }) {
		allReady = time.Since(t0)
	}
	shims, total := shimsRssAnon(filepath.Join(n.agentDir, "runtime"))
	var perShim int64
	if shims > 0 {
		perShim = total / int64(shims)
	}
	b.ReportMetric(created.Seconds(), "created-s")
	b.ReportMetric(allRunning.Seconds(), "all-running-s")
	b.ReportMetric(allReady.Seconds(), "all-ready-s")
	b.ReportMetric(float64(perShim)/1024, "shim-RssAnon-kB")
	b.ReportMetric(selfCPU.Seconds(), "process-cpu-s")
	b.ReportMetric(podsCPU.Seconds(), "pod-cgroups-cpu-s")
	fmt.Fprintf(os.Stderr, "burst of %d pods (%d creators): created in %.2f s, all Running %.2f s, all Ready %.2f s; %d shims, RssAnon %d kB each on average; CPU until all Running: server+agent process %.2f s, pod cgroups %.2f s; load %s\n",
		pods, creators, created.Seconds(), allRunning.Seconds(), allReady.Seconds(), shims, perShim/1024,
		selfCPU.Seconds(), podsCPU.Seconds(), loadavg())
	t1 := time.Now()
	n.deleteAll(b)
	fmt.Fprintf(os.Stderr, "burst: deleting all %d took %.2f s\n", pods, time.Since(t1).Seconds())
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cgroupCPU is the CPU time charged to a cgroup tree (cpuacct, v1).
func cgroupCPU(rel string) time.Duration {
	var ns int64
	for _, mp := range []string{"cpuacct", "cpu,cpuacct"} {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", mp, rel, "cpuacct.usage"))
		if err == nil {
			fmt.Sscan(strings.TrimSpace(string(b)), &ns)
			break
		}
	}
	return time.Duration(ns)
}

// shimsRssAnon sums the RssAnon of every shim whose state lives under dir.
func shimsRssAnon(dir string) (count int, total int64) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.HasPrefix(string(cmd), "skiff-shim\x00"+dir) {
			continue
		}
		var pid int
		fmt.Sscan(e.Name(), &pid)
		anon, _ := memory(pid)
		count++
		total += anon
	}
	return count, total
}

// BenchmarkAgentIdleMemory runs two `skiff server` processes (the built binary), one with its node
// agent and one with --disable-agent, each in a network namespace of its own, and reports the
// difference of their RssAnon 20 s after start with no pods: what the idle agent costs. It also
// runs a standalone `skiff kubelet` process against the agent-less server and reports its RssAnon
// (an agent on its own pays its own Go runtime, client-go and TLS).
//
// Run: go test -run '^$' -bench AgentIdleMemory -benchtime 1x ./bench (as root).
func BenchmarkAgentIdleMemory(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	with, _ := startNsServer(b, true)
	without, ns := startNsServer(b, false)
	standalone := startNsKubelet(b, ns, without.kubeconfig)
	time.Sleep(20 * time.Second)
	if _, err := os.Stat(filepath.Join(with.dataDir, "agent", "runtime")); err != nil {
		b.Fatalf("the agent did not start: %v", err)
	}
	if standalone.ProcessState != nil {
		b.Fatalf("skiff kubelet exited: %v", standalone.ProcessState)
	}
	// Sample a few times: the GC may be mid-cycle in either process.
	var wAnon, woAnon, wRss, kAnon, kRss int64
	for i := 0; i < 5; i++ {
		a, r := memory(with.cmd.Process.Pid)
		c, _ := memory(without.cmd.Process.Pid)
		k, kr := memory(standalone.Process.Pid)
		if i == 0 || k < kAnon {
			kAnon, kRss = k, kr
		}
		if i == 0 || a < wAnon {
			wAnon, wRss = a, r
		}
		if i == 0 || c < woAnon {
			woAnon = c
		}
		time.Sleep(time.Second)
	}
	b.ReportMetric(float64(wAnon)/(1<<20), "with-agent-RssAnon-MB")
	b.ReportMetric(float64(woAnon)/(1<<20), "without-RssAnon-MB")
	b.ReportMetric(float64(wAnon-woAnon)/(1<<20), "agent-RssAnon-MB")
	b.ReportMetric(float64(kAnon)/(1<<20), "standalone-kubelet-RssAnon-MB")
	fmt.Fprintf(os.Stderr, "idle skiff server RssAnon: with agent %.1f MB (VmRSS %.1f MB), --disable-agent %.1f MB; agent %.1f MB; standalone skiff kubelet %.1f MB (VmRSS %.1f MB); load %s\n",
		float64(wAnon)/(1<<20), float64(wRss)/(1<<20), float64(woAnon)/(1<<20), float64(wAnon-woAnon)/(1<<20),
		float64(kAnon)/(1<<20), float64(kRss)/(1<<20), loadavg())
}

// startNsKubelet runs `skiff kubelet` (the built binary) in ns against the server's kubeconfig,
// with a data dir, node name and cgroup root of its own.
func startNsKubelet(b *testing.B, ns *nettest.Namespace, kubeconfig string) *exec.Cmd {
	b.Helper()
	dir := b.TempDir()
	suffix := randHex()
	cgroot := "/skiff-bench-kl-" + suffix
	cmd := exec.Command("nsenter", "--net="+ns.Path, skiffBin, "kubelet", "--kubeconfig", kubeconfig,
		"--node-name", "kl-"+suffix, "--data-dir", dir, "--cgroup-root", cgroot, "--pod-cidr", "198.19.3.0/24",
		"--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		removeCgroupTree(cgroot)
	})
	return cmd
}

// startNsServer starts the built binary in a fresh network namespace (nsenter execs it, so the pid
// is the server's); the agent's names derive from a random suffix.
func startNsServer(b *testing.B, agent bool) (*server, *nettest.Namespace) {
	b.Helper()
	ns := nettest.NewNamespace(b, "mem")
	dir, err := os.MkdirTemp("", "skb-")
	if err != nil {
		b.Fatal(err)
	}
	suffix := randHex()
	args := []string{"--net=" + ns.Path, skiffBin, "server", "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--secure-port", "6443", "--log-level", "warn"}
	cgroot := "/skiff-bench-mem-" + suffix
	if agent {
		args = append(args, "--node-name", "mem-"+suffix, "--cgroup-root", cgroot, "--pod-cidr", "198.19.2.0/24")
	} else {
		args = append(args, "--disable-agent")
	}
	cmd := exec.Command("nsenter", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &server{cmd: cmd, dataDir: dir, kubeconfig: filepath.Join(dir, "admin.kubeconfig")}
	b.Cleanup(func() { s.stop(); removeCgroupTree(cgroot) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(s.kubeconfig); err == nil {
			return s, ns
		}
		if time.Now().After(deadline) {
			b.Fatal("skiff server did not write its kubeconfig")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
