package kubelet

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/skiff-dev/skiff/internal/kubelet/podcgroups"
	"github.com/skiff-dev/skiff/internal/runtime"
	rtfake "github.com/skiff-dev/skiff/internal/runtime/fake"
)

// fakeImages has every image whose name does not contain "missing"; pulls of those fail.
type fakeImages struct {
	mu     sync.Mutex
	pulled []string
}

func (f *fakeImages) Get(ref string) (ImageInfo, error) {
	if strings.Contains(ref, "missing") || strings.Contains(ref, "remote") {
		return ImageInfo{}, ErrImageNotPresent
	}
	return ImageInfo{ID: "sha256:" + ref, RepoDigest: ref + "@sha256:abc"}, nil
}

func (f *fakeImages) Pull(ctx context.Context, ref string, _ [][]byte) (ImageInfo, error) {
	f.mu.Lock()
	f.pulled = append(f.pulled, ref)
	f.mu.Unlock()
	if strings.Contains(ref, "missing") {
		return ImageInfo{}, fmt.Errorf("image not found: %s", ref)
	}
	return ImageInfo{ID: "sha256:" + ref, Size: 42}, nil
}

func (f *fakeImages) Mounts(ref string) ([]string, runtime.ImageConfig, error) {
	return nil, runtime.ImageConfig{ID: "sha256:" + ref}, nil
}

func (f *fakeImages) RootDirs(string) ([]string, error) { return nil, nil }

// recorder logs the order of the calls that tear a pod down.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

type recordingRuntime struct {
	runtime.Runtime
	rec *recorder
}

func (r recordingRuntime) StopContainer(ctx context.Context, id string, t time.Duration) error {
	r.rec.add("StopContainer")
	return r.Runtime.StopContainer(ctx, id, t)
}

func (r recordingRuntime) StopPodSandbox(ctx context.Context, id string) error {
	r.rec.add("StopPodSandbox")
	return r.Runtime.StopPodSandbox(ctx, id)
}

func (r recordingRuntime) RemovePodSandbox(ctx context.Context, id string) error {
	r.rec.add("RemovePodSandbox")
	return r.Runtime.RemovePodSandbox(ctx, id)
}

type fakeNetwork struct {
	rec  *recorder
	mu   sync.Mutex
	next int
	ips  map[string]string
}

func (n *fakeNetwork) Setup() error { return nil }

func (n *fakeNetwork) Attach(uid, _ string) (net.IP, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, ok := n.ips[uid]; ok {
		return net.ParseIP(ip), nil
	}
	n.next++
	ip := fmt.Sprintf("10.244.0.%d", n.next+1)
	n.ips[uid] = ip
	return net.ParseIP(ip), nil
}

func (n *fakeNetwork) Detach(uid, _ string) error {
	n.rec.add("Detach")
	n.mu.Lock()
	delete(n.ips, uid)
	n.mu.Unlock()
	return nil
}

type harness struct {
	k      *Kubelet
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	rt     runtime.Runtime
	rec    *recorder
	events *record.FakeRecorder
}

func newHarness(t *testing.T, mutate ...func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	rec := &recorder{}
	rt := recordingRuntime{Runtime: rtfake.New(dir, nil), rec: rec}
	clk := clocktesting.NewFakeClock(time.Now())
	client := fake.NewClientset()
	// Pod cgroups go to directories laid out as a cgroup v1 host's, in the test's dir.
	cg, err := podcgroups.New(podcgroups.Config{Root: "/skiff-n1", Hierarchies: []podcgroups.Hierarchy{
		{Path: filepath.Join(dir, "cgroup", "cpu"), Controllers: []string{"cpu"}},
		{Path: filepath.Join(dir, "cgroup", "memory"), Controllers: []string{"memory"}}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{NodeName: "n1", NodeIP: net.ParseIP("192.0.2.10"), DataDir: dir,
		Runtime: rt, Images: &fakeImages{}, Network: &fakeNetwork{rec: rec, ips: map[string]string{}}, Clock: clk,
		PodCgroups: cg}
	for _, m := range mutate {
		m(&cfg)
	}
	k, err := New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ev := record.NewFakeRecorder(1000)
	k.recorder = ev
	t.Cleanup(func() {
		k.prober.Stop()
		sbs, _ := rt.ListPodSandbox(context.Background(), nil)
		for _, sb := range sbs {
			rt.RemovePodSandbox(context.Background(), sb.ID)
		}
	})
	return &harness{k: k, client: client, clock: clk, rt: rt, rec: rec, events: ev}
}

func (h *harness) create(t *testing.T, pod *v1.Pod) *podWorker {
	t.Helper()
	p, err := h.client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := newPodWorker(p.UID, p.Namespace, p.Name)
	w.setPod(p)
	return w
}

// sync runs one worker round with the API's current pod.
func (h *harness) sync(t *testing.T, w *podWorker) v1.PodStatus {
	t.Helper()
	p, err := h.client.CoreV1().Pods(w.namespace).Get(context.Background(), w.name, metav1.GetOptions{})
	if err == nil {
		w.setPod(p)
	}
	if _, err := h.k.syncWorker(context.Background(), w); err != nil {
		t.Logf("sync: %v", err)
	}
	st, _ := h.k.GetPodStatus(w.uid)
	return st
}

// until syncs until cond holds on the status.
func (h *harness) until(t *testing.T, w *podWorker, what string, cond func(st v1.PodStatus) bool) v1.PodStatus {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := h.sync(t, w)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; status: %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testPod(name string, policy v1.RestartPolicy, init []string, apps ...string) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       v1.PodSpec{NodeName: "n1", RestartPolicy: policy},
	}
	for i, s := range init {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: fmt.Sprintf("init%d", i),
			Image: "busybox:1", Command: []string{"sh", "-c", s}, TerminationMessagePolicy: v1.TerminationMessageReadFile})
	}
	for i, s := range apps {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: fmt.Sprintf("app%d", i),
			Image: "busybox:1", Command: []string{"sh", "-c", s}, TerminationMessagePolicy: v1.TerminationMessageReadFile})
	}
	return p
}

func cond(st v1.PodStatus, t v1.PodConditionType) v1.PodCondition {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c
		}
	}
	return v1.PodCondition{}
}

func TestPodRunsAndReportsStatus(t *testing.T) {
	h := newHarness(t)
	w := h.create(t, testPod("web", v1.RestartPolicyAlways, nil, "sleep 60"))
	st := h.until(t, w, "Running", func(st v1.PodStatus) bool { return st.Phase == v1.PodRunning })
	if st.PodIP == "" || st.HostIP != "192.0.2.10" || st.StartTime == nil {
		t.Errorf("addresses/start: podIP %q hostIP %q start %v", st.PodIP, st.HostIP, st.StartTime)
	}
	cs := st.ContainerStatuses[0]
	if !cs.Ready || cs.State.Running == nil || !strings.HasPrefix(cs.ContainerID, "skiff://") || cs.ImageID == "" {
		t.Errorf("container status %+v", cs)
	}
	for _, ct := range []v1.PodConditionType{v1.PodScheduled, v1.PodReadyToStartContainers, v1.PodInitialized, v1.ContainersReady, v1.PodReady} {
		if c := cond(st, ct); c.Status != v1.ConditionTrue {
			t.Errorf("condition %s = %+v", ct, c)
		}
	}
	// The API has it.
	p, _ := h.client.CoreV1().Pods("default").Get(context.Background(), "web", metav1.GetOptions{})
	if p.Status.Phase != v1.PodRunning || p.Status.PodIP != st.PodIP {
		t.Errorf("API status phase %s podIP %s", p.Status.Phase, p.Status.PodIP)
	}
	// A second round changes nothing: no new PATCH.
	n := len(h.client.Actions())
	h.sync(t, w)
	for _, a := range h.client.Actions()[n:] {
		if a.GetVerb() != "get" {
			t.Errorf("an unchanged sync made a %s of %s/%s", a.GetVerb(), a.GetResource().Resource, a.GetSubresource())
		}
	}
	// Nothing started twice: one sandbox, one container.
	sbs, _ := h.rt.ListPodSandbox(context.Background(), nil)
	cs2, _ := h.rt.ListContainers(context.Background(), nil)
	if len(sbs) != 1 || len(cs2) != 1 {
		t.Errorf("sandboxes %d containers %d, want 1 and 1", len(sbs), len(cs2))
	}
}

func TestInitContainersRunInOrder(t *testing.T) {
	h := newHarness(t)
	w := h.create(t, testPod("init", v1.RestartPolicyAlways, []string{"sleep 0.2", "exit 0"}, "sleep 60"))
	st := h.sync(t, w)
	if st.Phase != v1.PodPending || cond(st, v1.PodInitialized).Reason != reasonNotInitialized {
		t.Fatalf("first round: phase %s initialized %+v", st.Phase, cond(st, v1.PodInitialized))
	}
	cs, _ := h.rt.ListContainers(context.Background(), nil)
	if len(cs) != 1 || cs[0].Labels[labelContainerName] != "init0" {
		t.Fatalf("first round started %d containers (%v), want init0 alone", len(cs), cs)
	}
	if w := st.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != reasonPodInitializing {
		t.Errorf("app container waits with %+v, want PodInitializing", w)
	}
	st = h.until(t, w, "Running", func(st v1.PodStatus) bool { return st.Phase == v1.PodRunning })
	var order []string
	cs, _ = h.rt.ListContainers(context.Background(), nil)
	slices.SortFunc(cs, func(a, b *runtime.ContainerStatus) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, c := range cs {
		order = append(order, c.Labels[labelContainerName])
	}
	if !slices.Equal(order, []string{"init0", "init1", "app0"}) {
		t.Errorf("start order %v", order)
	}
	for _, ic := range st.InitContainerStatuses {
		if ic.State.Terminated == nil || ic.State.Terminated.Reason != "Completed" || !ic.Ready {
			t.Errorf("init status %+v", ic)
		}
	}
}

func TestFailingInitContainerFailsNeverPod(t *testing.T) {
	h := newHarness(t)
	w := h.create(t, testPod("initfail", v1.RestartPolicyNever, []string{"exit 3"}, "sleep 60"))
	st := h.until(t, w, "Failed", func(st v1.PodStatus) bool { return st.Phase == v1.PodFailed })
	if tm := st.InitContainerStatuses[0].State.Terminated; tm == nil || tm.ExitCode != 3 || tm.Reason != "Error" {
		t.Errorf("init status %+v", st.InitContainerStatuses[0])
	}
	cs, _ := h.rt.ListContainers(context.Background(), &runtime.ContainerFilter{Labels: map[string]string{labelContainerName: "app0"}})
	if len(cs) != 0 {
		t.Error("the app container started after its init container failed")
	}
}

func TestCrashLoopBackOff(t *testing.T) {
	h := newHarness(t)
	w := h.create(t, testPod("crash", v1.RestartPolicyAlways, nil, "echo boom >&2; exit 2"))
	// The first restart is immediate.
	h.until(t, w, "first restart", func(st v1.PodStatus) bool { return st.ContainerStatuses[0].RestartCount == 1 })
	st := h.until(t, w, "CrashLoopBackOff", func(st v1.PodStatus) bool {
		wt := st.ContainerStatuses[0].State.Waiting
		return wt != nil && wt.Reason == reasonCrashLoopBackOff
	})
	cs := st.ContainerStatuses[0]
	if !strings.Contains(cs.State.Waiting.Message, "back-off 10s restarting failed container=app0 pod=crash_default(") {
		t.Errorf("waiting message %q", cs.State.Waiting.Message)
	}
	if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 2 || lt.Reason != "Error" {
		t.Errorf("last state %+v", cs.LastTerminationState)
	}
	if st.Phase != v1.PodRunning || cond(st, v1.PodReady).Status != v1.ConditionFalse {
		t.Errorf("phase %s ready %+v", st.Phase, cond(st, v1.PodReady))
	}
	// Held for 10 s of the clock: no restart until it passes.
	h.sync(t, w)
	if n := h.k.statuses[w.uid].ContainerStatuses[0].RestartCount; n != 1 {
		t.Fatalf("restarted during back-off: restartCount %d", n)
	}
	h.clock.Step(11 * time.Second)
	h.until(t, w, "second restart", func(st v1.PodStatus) bool { return st.ContainerStatuses[0].RestartCount == 2 })
	// The next delay doubled.
	st = h.until(t, w, "20s back-off", func(st v1.PodStatus) bool {
		wt := st.ContainerStatuses[0].State.Waiting
		return wt != nil && strings.Contains(wt.Message, "back-off 20s")
	})
	if !hasEvent(h.events, "Warning BackOff Back-off restarting failed container app0 in pod crash_default(") {
		t.Error("no BackOff event")
	}
}

func TestRestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy v1.RestartPolicy
		script string
		phase  v1.PodPhase
	}{
		{v1.RestartPolicyNever, "exit 0", v1.PodSucceeded},
		{v1.RestartPolicyNever, "exit 1", v1.PodFailed},
		{v1.RestartPolicyOnFailure, "exit 0", v1.PodSucceeded},
	} {
		t.Run(string(tc.policy)+"/"+tc.script, func(t *testing.T) {
			h := newHarness(t)
			w := h.create(t, testPod("p", tc.policy, nil, tc.script))
			st := h.until(t, w, string(tc.phase), func(st v1.PodStatus) bool { return st.Phase == tc.phase })
			if cs := st.ContainerStatuses[0]; cs.RestartCount != 0 || cs.State.Terminated == nil {
				t.Errorf("container %+v", cs)
			}
			if c := cond(st, v1.PodReadyToStartContainers); c.Status != v1.ConditionFalse {
				t.Errorf("finished pod's sandbox condition %+v", c)
			}
			if tc.phase == v1.PodSucceeded && cond(st, v1.PodReady).Reason != reasonPodCompleted {
				t.Errorf("Ready %+v", cond(st, v1.PodReady))
			}
		})
	}
}

func TestImagePullErrors(t *testing.T) {
	h := newHarness(t)
	p := testPod("img", v1.RestartPolicyAlways, nil, "sleep 60")
	p.Spec.Containers[0].Image = "missing:1"
	w := h.create(t, p)
	st := h.sync(t, w)
	if wt := st.ContainerStatuses[0].State.Waiting; wt == nil || wt.Reason != reasonErrImagePull {
		t.Fatalf("first round waiting %+v", wt)
	}
	st = h.sync(t, w)
	if wt := st.ContainerStatuses[0].State.Waiting; wt == nil || wt.Reason != reasonImagePullBackOff ||
		!strings.HasPrefix(wt.Message, `Back-off pulling image "missing:1"`) {
		t.Fatalf("second round waiting %+v", wt)
	}
	for _, e := range []string{`Normal Pulling Pulling image "missing:1"`, `Warning Failed Failed to pull image "missing:1"`,
		"Warning Failed Error: ErrImagePull", `Normal BackOff Back-off pulling image "missing:1"`, "Warning Failed Error: ImagePullBackOff"} {
		if !hasEvent(h.events, e) {
			t.Errorf("no event %q", e)
		}
	}
	p.Spec.Containers[0].Image = "never:1"
	p.Spec.Containers[0].ImagePullPolicy = v1.PullNever
	if got := pullPolicy(&v1.Container{Image: "x"}); got != v1.PullAlways {
		t.Errorf("default policy for an untagged image: %s", got)
	}
	if got := pullPolicy(&v1.Container{Image: "x:1.2"}); got != v1.PullIfNotPresent {
		t.Errorf("default policy for a tagged image: %s", got)
	}
}

var eventsMu sync.Mutex
var seenEvents []string

func hasEvent(r *record.FakeRecorder, prefix string) bool {
	eventsMu.Lock()
	defer eventsMu.Unlock()
	for {
		select {
		case e := <-r.Events:
			seenEvents = append(seenEvents, e)
			continue
		default:
		}
		break
	}
	for _, e := range seenEvents {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

func TestDeletionOrderAndCleanup(t *testing.T) {
	h := newHarness(t)
	p := testPod("del", v1.RestartPolicyAlways, nil, "trap 'exit 0' TERM; sleep 60 & wait", "sleep 60")
	p.Spec.Volumes = []v1.Volume{{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}
	p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	grace := int64(1)
	p.Spec.TerminationGracePeriodSeconds = &grace
	w := h.create(t, p)
	h.until(t, w, "Running", func(st v1.PodStatus) bool { return st.Phase == v1.PodRunning })
	podDir := h.k.volumes.PodDir(w.uid)
	if _, err := os.Stat(filepath.Join(podDir, "volumes")); err != nil {
		t.Fatalf("volumes not set up: %v", err)
	}
	// The API server marks it deleted; the agent finishes the job.
	cur, _ := h.client.CoreV1().Pods("default").Get(context.Background(), "del", metav1.GetOptions{})
	now := metav1.Now()
	cur.DeletionTimestamp, cur.DeletionGracePeriodSeconds = &now, &grace
	w.setPod(cur)
	start := time.Now()
	if _, err := h.k.syncWorker(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	// The container ignoring SIGTERM is killed after the 2 s minimum.
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("kill took %v", took)
	}
	calls := h.rec.list()
	want := []string{"StopContainer", "StopContainer", "StopPodSandbox", "Detach", "RemovePodSandbox"}
	if !slices.Equal(calls, want) {
		t.Errorf("teardown order %v, want %v", calls, want)
	}
	if _, err := os.Stat(podDir); !os.IsNotExist(err) {
		t.Errorf("pod dir left: %v", err)
	}
	if _, err := os.Stat(h.k.podLogDir(cur)); !os.IsNotExist(err) {
		t.Errorf("log dir left: %v", err)
	}
	var deleted bool
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			deleted = true
		}
	}
	if !deleted {
		t.Error("the API object was not deleted")
	}
	if !hasEvent(h.events, "Normal Killing Stopping container app0") {
		t.Error("no Killing event")
	}
}

func TestAdoptsRunningPodAfterRestart(t *testing.T) {
	h := newHarness(t)
	w := h.create(t, testPod("adopt", v1.RestartPolicyAlways, nil, "sleep 60"))
	h.until(t, w, "Running", func(st v1.PodStatus) bool { return st.Phase == v1.PodRunning })
	before, _ := h.rt.ListContainers(context.Background(), nil)
	// A new agent over the same runtime state and the same API: nothing starts twice.
	k2, err := New(h.client, Config{NodeName: "n1", NodeIP: net.ParseIP("192.0.2.10"), DataDir: h.k.cfg.DataDir,
		Runtime: h.rt, Images: &fakeImages{}, Network: h.k.net, Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	defer k2.prober.Stop()
	k2.recorder = record.NewFakeRecorder(100)
	p, _ := h.client.CoreV1().Pods("default").Get(context.Background(), "adopt", metav1.GetOptions{})
	w2 := newPodWorker(p.UID, p.Namespace, p.Name)
	w2.setPod(p)
	k2.syncWorker(context.Background(), w2)
	after, _ := h.rt.ListContainers(context.Background(), nil)
	sbs, _ := h.rt.ListPodSandbox(context.Background(), nil)
	if len(after) != len(before) || len(sbs) != 1 || after[0].ID != before[0].ID {
		t.Errorf("after adoption: %d containers (was %d), %d sandboxes", len(after), len(before), len(sbs))
	}
	if st, _ := k2.GetPodStatus(p.UID); st.Phase != v1.PodRunning || st.PodIP == "" {
		t.Errorf("adopted status phase %s podIP %q", st.Phase, st.PodIP)
	}
}

func TestTerminationMessage(t *testing.T) {
	h := newHarness(t)
	p := testPod("term", v1.RestartPolicyNever, nil, "echo last words; exit 1")
	p.Spec.Containers[0].TerminationMessagePolicy = v1.TerminationMessageFallbackToLogsOnError
	w := h.create(t, p)
	st := h.until(t, w, "Failed", func(st v1.PodStatus) bool { return st.Phase == v1.PodFailed })
	if m := st.ContainerStatuses[0].State.Terminated.Message; m != "last words\n" {
		t.Errorf("termination message %q", m)
	}
}

func TestBackoff(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	b := newBackoff(clk)
	failed := clk.Now()
	if in, _ := b.InBackoff("k", failed); in {
		t.Fatal("first failure must be retried at once")
	}
	wantDelays := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i, want := range wantDelays {
		b.Next("k", failed)
		in, d := b.InBackoff("k", failed)
		if !in || d != want {
			t.Fatalf("step %d: in %v delay %v, want %v", i, in, d, want)
		}
		clk.Step(want)
		if in, _ := b.InBackoff("k", failed); in {
			t.Fatalf("step %d: still in back-off after %v", i, want)
		}
		failed = clk.Now()
	}
	clk.Step(backoffReset + time.Second)
	b.Next("k", clk.Now())
	if _, d := b.InBackoff("k", clk.Now()); d != backoffInitial {
		t.Errorf("after a quiet period the delay is %v, want %v", d, backoffInitial)
	}
}

func TestCgroupRoot(t *testing.T) {
	for in, want := range map[string]string{"node1": "/skiff-node1", "My/Node": "/skiff-my_node"} {
		if got := CgroupRoot(in); got != want {
			t.Errorf("CgroupRoot(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestForceDeletedPodIsKilled(t *testing.T) {
	h := newHarness(t)
	w := h.create(t, testPod("gone", v1.RestartPolicyAlways, nil, "sleep 60"))
	h.until(t, w, "Running", func(st v1.PodStatus) bool { return st.Phase == v1.PodRunning })
	zero := int64(0)
	if err := h.client.CoreV1().Pods("default").Delete(context.Background(), "gone", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	w.setGone(nil)
	done, err := h.k.syncWorker(context.Background(), w)
	if err != nil || !done {
		t.Fatalf("sync of a force-deleted pod: done %v err %v", done, err)
	}
	sbs, _ := h.rt.ListPodSandbox(context.Background(), nil)
	cs, _ := h.rt.ListContainers(context.Background(), nil)
	if len(sbs) != 0 || len(cs) != 0 {
		t.Errorf("left %d sandboxes and %d containers", len(sbs), len(cs))
	}
	if _, err := os.Stat(h.k.volumes.PodDir(w.uid)); !os.IsNotExist(err) {
		t.Errorf("pod dir left: %v", err)
	}
}

func TestConfigErrorWaitsAndIsRecordedOnce(t *testing.T) {
	h := newHarness(t)
	p := testPod("cfg", v1.RestartPolicyAlways, nil, "sleep 60")
	p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{
		ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "absent"}, Key: "k"}}}}
	w := h.create(t, p)
	var st v1.PodStatus
	for range 3 {
		st = h.sync(t, w)
	}
	if wt := st.ContainerStatuses[0].State.Waiting; wt == nil || wt.Reason != "CreateContainerConfigError" || !strings.Contains(wt.Message, `configmap "absent" not found`) {
		t.Fatalf("waiting %+v", st.ContainerStatuses[0].State.Waiting)
	}
	hasEvent(h.events, "")
	n := 0
	eventsMu.Lock()
	for _, e := range seenEvents {
		if strings.HasPrefix(e, "Warning Failed Error: configmap") {
			n++
		}
	}
	eventsMu.Unlock()
	if n != 1 {
		t.Errorf("the same config error was recorded %d times in three rounds", n)
	}
	if st.Phase != v1.PodPending {
		t.Errorf("phase %s", st.Phase)
	}
}
