package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-dev/skiff/internal/kubelet/localpathdirs"
	"github.com/skiff-dev/skiff/internal/kubelet/nodestatus"
	"github.com/skiff-dev/skiff/internal/kubelet/podcgroups"
	"github.com/skiff-dev/skiff/internal/kubelet/prober"
	"github.com/skiff-dev/skiff/internal/kubelet/pvcvolume"
	"github.com/skiff-dev/skiff/internal/kubelet/staticpod"
	"github.com/skiff-dev/skiff/internal/kubelet/volume"
	"github.com/skiff-dev/skiff/internal/localpath"
	"github.com/skiff-dev/skiff/internal/network"
	"github.com/skiff-dev/skiff/internal/network/ipam"
	"github.com/skiff-dev/skiff/internal/proxy"
	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/image"
	"github.com/skiff-dev/skiff/internal/runtime/libcontainer"
)

// Labels the agent puts on sandboxes and containers, named as upstream's CRI labels so that
// tools reading them find what they expect.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	// annotationTermLog is the host path of a container instance's termination-log file.
	annotationTermLog = "skiff.dev/termination-log"
)

// pollInterval is how often a pod's worker looks at the runtime between changes: the runtime
// has no event stream, so this is how container exits are noticed.
const pollInterval = time.Second

// Network is the pod network as the agent uses it (internal/network implements it).
type Network interface {
	Setup() error
	Attach(podUID, netnsPath string) (net.IP, error)
	Detach(podUID, netnsPath string) error
}

// Kubelet runs the pods bound to one node.
type Kubelet struct {
	cfg     Config
	client  kubernetes.Interface
	log     *slog.Logger
	rt      runtime.Runtime
	images  Images
	net     Network
	podNet  *podNetwork // the real pod network, nil when Config.Network replaced it
	volumes *volume.Manager
	// localPath keeps the directories of this node's local-path PVs.
	localPath *localpathdirs.Controller
	prober    *prober.Manager
	sources   *apiSources
	node      NodeReporter
	static    *staticPods
	cgroups   *podcgroups.Manager
	// memCapacity scales burstable containers' oom_score_adj (0 if unknown).
	memCapacity int64

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	restarts    *backoff // key "<uid>/<container>"
	pulls       *backoff // key "<uid>/<image>"
	logsDir     string
	closers     []func() error
	apiListener net.Listener

	lister corelisters.PodLister
	synced cache.InformerSynced

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	statuses map[types.UID]v1.PodStatus
	wg       sync.WaitGroup
	runCtx   context.Context
	// dial connects from the node's network namespace (probes and HTTP hooks reach pod IPs).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// New builds the agent and the node-local pieces it composes; nothing starts until Run.
func New(client kubernetes.Interface, cfg Config) (*Kubelet, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	k := &Kubelet{
		cfg: cfg, client: client, log: cfg.Logger.With("component", "kubelet", "node", cfg.NodeName),
		restarts: newBackoff(cfg.Clock), pulls: newBackoff(cfg.Clock),
		logsDir: filepath.Join(cfg.DataDir, "logs"),
		workers: map[types.UID]*podWorker{}, statuses: map[types.UID]v1.PodStatus{},
		static: newStaticPods(),
	}
	if err := os.MkdirAll(k.logsDir, 0o750); err != nil {
		return nil, err
	}
	k.cgroups = cfg.PodCgroups
	if k.cgroups == nil {
		m, err := podcgroups.New(podcgroups.Config{Root: cfg.CgroupRoot})
		if err != nil {
			return nil, err
		}
		k.cgroups = m
	}
	k.memCapacity = hostMemory()
	k.images = cfg.Images
	if k.images == nil {
		store, err := image.Open(image.Config{Root: filepath.Join(cfg.DataDir, "images"),
			RegistryMirrors: cfg.RegistryMirrors, InsecureRegistries: cfg.InsecureRegistries})
		if err != nil {
			return nil, err
		}
		k.images = StoreImages{Store: store}
	}
	k.rt = cfg.Runtime
	if k.rt == nil {
		rt, err := libcontainer.New(libcontainer.Config{StateDir: filepath.Join(cfg.DataDir, "runtime"),
			Images: k.images, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		k.rt = rt
		k.closers = append(k.closers, rt.Close)
	}
	k.net = cfg.Network
	if k.net == nil {
		p, err := newPodNetwork(cfg)
		if err != nil {
			k.close()
			return nil, err
		}
		k.podNet, k.net = p, p
		k.closers = append(k.closers, p.Close)
	}
	k.sources = newAPISources(client, cfg.Clock)
	lpRoot, err := localpathdirs.RootFor(cfg.DataDir)
	if err != nil {
		k.close()
		return nil, err
	}
	lpDirs, err := localpathdirs.NewDirs(lpRoot)
	if err != nil {
		k.close()
		return nil, err
	}
	k.broadcaster = record.NewBroadcaster()
	k.recorder = k.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: cfg.NodeName})
	if k.localPath, err = localpathdirs.New(localpathdirs.Config{Client: client, NodeName: cfg.NodeName, Dirs: lpDirs,
		Recorder: k.recorder, Logger: cfg.Logger}); err != nil {
		k.close()
		return nil, err
	}
	claims, err := pvcvolume.New(pvcvolume.Config{Objects: claimObjects{client: client, local: k.localPath},
		NodeName: cfg.NodeName, Dirs: lpDirs, Logger: cfg.Logger})
	if err != nil {
		k.close()
		return nil, err
	}
	vm, err := volume.New(volume.Config{DataDir: cfg.DataDir, Sources: k.sources, Logger: cfg.Logger,
		Plugins: []volume.Plugin{claims}})
	if err != nil {
		k.close()
		return nil, err
	}
	k.volumes = vm
	k.dial = network.DialContextIn(cfg.NetNS)
	k.prober = prober.NewManager(prober.Config{Exec: execer{k.rt}, Statuses: k, Dial: k.dial})
	// The API's port is known (and advertised) before the Node is registered.
	if err := k.listenAPI(); err != nil {
		k.close()
		return nil, err
	}
	k.node = cfg.Node
	if k.node == nil {
		var checks []nodestatus.ReadinessCheck
		if k.podNet != nil {
			checks = append(checks, k.podNet.ready)
		}
		agent, err := nodestatus.New(client, nodestatus.Config{
			NodeName: cfg.NodeName, NodeIP: cfg.NodeIP, PodCIDR: cfg.PodCIDR, DataDir: cfg.DataDir,
			KubeletPort: int(k.cfg.KubeletPort), LeaseDuration: cfg.NodeLeaseDuration,
			Recorder: k.recorder, Logger: cfg.Logger, ReadinessChecks: checks,
			Annotations: map[string]string{localpath.RootAnnotation: lpDirs.Root()},
		})
		if err != nil {
			k.close()
			return nil, err
		}
		k.node = agent
	}
	return k, nil
}

func (k *Kubelet) close() {
	for i := len(k.closers) - 1; i >= 0; i-- {
		k.closers[i]()
	}
	k.closers = nil
}

// Runtime is the container runtime the agent drives (the kubelet API server execs through it).
func (k *Kubelet) Runtime() runtime.Runtime { return k.rt }

// NodeName is the node this agent runs.
func (k *Kubelet) NodeName() string { return k.cfg.NodeName }

// Container finds the runtime's current (or, with previous, the one before) instance of a pod's
// container. It wraps runtime.ErrNotFound. (The kubelet API server asks through apiPods.)
func (k *Kubelet) Container(ctx context.Context, namespace, pod, container string, previous bool) (*runtime.ContainerStatus, error) {
	if k.lister == nil {
		return nil, fmt.Errorf("pod %s/%s: %w", namespace, pod, runtime.ErrNotFound)
	}
	uid := types.UID("")
	if sp, ok := k.static.byFullName(namespace, pod); ok {
		uid = sp.UID // the API shows its mirror pod, whose uid the runtime never saw
	} else {
		p, err := k.lister.Pods(namespace).Get(pod)
		if err != nil {
			return nil, fmt.Errorf("pod %s/%s: %w", namespace, pod, runtime.ErrNotFound)
		}
		uid = p.UID
	}
	pr, err := k.podRuntime(ctx, uid)
	if err != nil {
		return nil, err
	}
	l := pr.containers[container]
	i := 0
	if previous {
		i = 1
	}
	if len(l) <= i {
		return nil, fmt.Errorf("container %s of pod %s/%s: %w", container, namespace, pod, runtime.ErrNotFound)
	}
	return l[i], nil
}

// GetPodStatus is the latest status computed for a pod (the prober reads it).
func (k *Kubelet) GetPodStatus(uid types.UID) (v1.PodStatus, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, ok := k.statuses[uid]
	return st, ok
}

// Run registers the node, then runs the pods bound to it until ctx ends. Containers keep
// running when it returns: a new agent over the same data dir adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	defer k.close()
	k.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: k.client.CoreV1().Events("")})
	defer k.broadcaster.Shutdown()
	defer k.prober.Stop()
	if k.podNet != nil && k.cfg.PodCIDR != "" {
		// A configured pod CIDR is used at once: static pods get addresses before, and
		// without, the API server.
		if err := k.podNet.start(k.cfg.PodCIDR); err != nil {
			return fmt.Errorf("pod network: %w", err)
		}
	} else if err := k.net.Setup(); err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	if k.cfg.ServiceCIDR != "" {
		p, err := proxy.New(k.client, proxy.Config{NodeName: k.cfg.NodeName, ServiceCIDR: k.cfg.ServiceCIDR,
			ClusterCIDR: k.cfg.ClusterCIDR, NetNS: k.cfg.NetNS, Logger: k.cfg.Logger})
		if err != nil {
			return fmt.Errorf("service proxy: %w", err)
		}
		proxyDone := make(chan struct{})
		go func() {
			defer close(proxyDone)
			// A failing proxy leaves Services dark on this node but pods keep running.
			if err := p.Run(ctx); err != nil && ctx.Err() == nil {
				k.log.Error("service proxy stopped", "err", err)
			}
		}()
		defer func() { <-proxyDone }()
	}
	factory := informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
		}))
	inf := factory.Core().V1().Pods()
	k.lister, k.synced = inf.Lister(), inf.Informer().HasSynced
	defer k.wg.Wait()
	// Whatever ends Run ends the pod workers first (they run static pods before registration).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	k.mu.Lock()
	k.runCtx = ctx
	k.mu.Unlock()
	if k.cfg.PodManifestPath != "" {
		// Static pods run before, and without, the API server: control-plane pods are static.
		k.syncStaticPods()
		go k.runStaticPods(ctx)
	}
	go k.gcLoop(ctx)
	nodeErr := make(chan error, 1)
	go func() { nodeErr <- k.node.Run(ctx) }()
	select {
	case <-k.node.Registered():
	case err := <-nodeErr:
		return fmt.Errorf("node registration: %w", err)
	case <-ctx.Done():
		return nil
	}
	lpDone := make(chan struct{})
	go func() { defer close(lpDone); k.localPath.Run(ctx) }()
	defer func() { cancel(); <-lpDone }()
	// API pods wait for the pod network: without a pod CIDR they could not get an address.
	if err := k.followNodes(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}

	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { k.apiPodChanged(o.(*v1.Pod)) },
		UpdateFunc: func(old, o any) {
			if p := o.(*v1.Pod); !staticpod.IsMirror(p) && statusOnlyChange(old.(*v1.Pod), p) {
				k.podSeen(p)
			} else {
				k.apiPodChanged(p)
			}
		},
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			p, ok := o.(*v1.Pod)
			switch {
			case ok && staticpod.IsMirror(p):
				k.mirrorChanged(p)
			case ok:
				k.podGone(p.UID, p)
			}
		},
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), k.synced) {
		return nil
	}
	podCIDR := k.cfg.PodCIDR
	if k.podNet != nil {
		if n := k.podNet.get(); n != nil {
			podCIDR = n.PodCIDR().String()
		}
	}
	k.log.Info("node agent running", "cgroupRoot", k.cfg.CgroupRoot, "podCIDR", podCIDR, "bridge", k.cfg.BridgeName)
	go k.probeLoop(ctx)
	go k.rotateLogs(ctx)
	apiDone := make(chan struct{})
	go func() { defer close(apiDone); k.serveAPI(ctx) }()
	defer func() { <-apiDone }()
	k.housekeeping(ctx)
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			factory.Shutdown()
			k.wg.Wait()
			return nil
		case <-t.C:
			k.housekeeping(ctx)
		}
	}
}

func (k *Kubelet) probeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-k.prober.Updates():
			k.mu.Lock()
			w := k.workers[u.PodUID]
			k.mu.Unlock()
			if w == nil {
				continue
			}
			if u.Kill {
				w.requestKill(u)
			}
			w.poke()
		case e := <-k.prober.Events():
			ref := &v1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: e.Namespace, Name: e.PodName,
				UID: e.PodUID, FieldPath: e.FieldPath}
			k.recorder.Event(ref, e.Type, e.Reason, e.Message)
		}
	}
}

// apiPodChanged hands a pod of the API to its worker; a mirror pod only stands for a static
// pod, whose worker it concerns.
func (k *Kubelet) apiPodChanged(pod *v1.Pod) {
	if staticpod.IsMirror(pod) {
		k.mirrorChanged(pod)
		return
	}
	k.podChanged(pod)
}

// podChanged hands the pod to its worker, starting one for a pod seen for the first time.
func (k *Kubelet) podChanged(pod *v1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.workers[pod.UID]
	if w == nil {
		if k.runCtx == nil || k.runCtx.Err() != nil {
			return
		}
		w = newPodWorker(pod.UID, pod.Namespace, pod.Name)
		k.workers[pod.UID] = w
		k.wg.Add(1)
		go k.runWorker(k.runCtx, w)
	}
	w.setPod(pod)
	w.poke()
}

// statusOnlyChange tells the agent's own status writes (and anyone else's) apart from changes
// a sync must act on. Waking the worker for its own write would re-sync at once: a failed pull
// would turn ErrImagePull into ImagePullBackOff before anyone could see it, where upstream's
// kubelet, which also ignores status-only updates, shows it until the next sync.
func statusOnlyChange(old, cur *v1.Pod) bool {
	return equality.Semantic.DeepEqual(old.Spec, cur.Spec) &&
		equality.Semantic.DeepEqual(old.Labels, cur.Labels) &&
		equality.Semantic.DeepEqual(old.Annotations, cur.Annotations) &&
		equality.Semantic.DeepEqual(old.DeletionTimestamp, cur.DeletionTimestamp) &&
		equality.Semantic.DeepEqual(old.DeletionGracePeriodSeconds, cur.DeletionGracePeriodSeconds)
}

// podSeen gives the pod's worker the newest copy without waking it.
func (k *Kubelet) podSeen(pod *v1.Pod) {
	k.mu.Lock()
	w := k.workers[pod.UID]
	k.mu.Unlock()
	if w == nil {
		k.podChanged(pod)
		return
	}
	w.setPod(pod)
}

// podGone tells the pod's worker the API no longer has it (force-deleted, or deleted after
// this agent finished it); the worker kills what is left.
func (k *Kubelet) podGone(uid types.UID, last *v1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.workers[uid]
	if w == nil {
		if k.runCtx == nil || k.runCtx.Err() != nil {
			return
		}
		w = newPodWorker(uid, last.Namespace, last.Name)
		k.workers[uid] = w
		k.wg.Add(1)
		go k.runWorker(k.runCtx, w)
	}
	w.setGone(last)
	w.poke()
}

// housekeeping kills what the runtime runs and the volumes it keeps for pods the API no longer
// has bound here: after a restart of the agent, or after a force delete it missed.
func (k *Kubelet) housekeeping(ctx context.Context) {
	known := map[types.UID]bool{}
	pods, _ := k.lister.List(labelsEverything())
	for _, p := range pods {
		known[p.UID] = true
	}
	k.deleteOrphanedMirrors(ctx, pods)
	k.reportHostRefusals()
	k.mu.Lock()
	for uid := range k.workers {
		known[uid] = true
	}
	k.mu.Unlock()
	sbs, err := k.rt.ListPodSandbox(ctx, nil)
	if err != nil {
		k.log.Warn("listing sandboxes", "err", err)
		return
	}
	for _, sb := range sbs {
		uid := types.UID(sb.Labels[labelPodUID])
		if uid == "" || known[uid] {
			continue
		}
		known[uid] = true
		k.log.Info("cleaning up a pod the API no longer has", "pod", sb.Namespace+"/"+sb.Name, "podUID", uid)
		k.podGone(uid, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: sb.Labels[labelPodName], Namespace: sb.Labels[labelPodNamespace], UID: uid}})
	}
	// Addresses held for pods that are gone (the agent stopped between a sandbox's end and
	// its Detach) go back to the pool.
	if lister, ok := k.net.(interface {
		Allocations() ([]ipam.Allocation, error)
	}); ok {
		allocs, err := lister.Allocations()
		if err == nil {
			for _, a := range allocs {
				if known[types.UID(a.Owner)] {
					continue
				}
				if err := k.net.Detach(a.Owner, ""); err != nil {
					k.log.Warn("releasing the address of a removed pod", "podUID", a.Owner, "err", err)
				}
			}
		}
	}
	uids, err := k.volumes.PodUIDs()
	if err != nil {
		return
	}
	for _, uid := range uids {
		if known[uid] {
			continue
		}
		if err := k.volumes.TearDown(ctx, uid); err != nil {
			k.log.Warn("tearing down volumes of a removed pod", "podUID", uid, "err", err)
		}
	}
}

func (k *Kubelet) runWorker(ctx context.Context, w *podWorker) {
	defer k.wg.Done()
	for {
		done, err := k.syncWorker(ctx, w)
		if err != nil && ctx.Err() == nil {
			k.log.Debug("pod sync", "pod", w.namespace+"/"+w.name, "podUID", w.uid, "err", err)
		}
		if done {
			k.mu.Lock()
			if k.workers[w.uid] == w {
				delete(k.workers, w.uid)
			}
			delete(k.statuses, w.uid)
			k.mu.Unlock()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-w.trigger:
		case <-time.After(pollInterval):
		}
	}
}

// execer adapts the runtime to the prober's exec contract.
type execer struct{ rt runtime.Runtime }

func (e execer) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, []byte, int, error) {
	res, err := e.rt.ExecSync(ctx, trimContainerID(id), cmd, timeout)
	if err != nil {
		return nil, nil, 0, err
	}
	if res.TimedOut {
		return res.Stdout, res.Stderr, res.ExitCode, fmt.Errorf("command timed out: %w", context.DeadlineExceeded)
	}
	return res.Stdout, res.Stderr, res.ExitCode, nil
}

func trimContainerID(id string) string {
	if len(id) > len(containerIDPrefix) && id[:len(containerIDPrefix)] == containerIDPrefix {
		return id[len(containerIDPrefix):]
	}
	return id
}

var errPodGone = errors.New("pod is gone")

// reportHostRefusals puts the settings the runtime found the host refusing on the Node.
func (k *Kubelet) reportHostRefusals() {
	hr, ok := k.rt.(interface{ HostRefusals() map[string]string })
	if !ok {
		return
	}
	nr, ok := k.node.(interface{ RecordHostRefusal(setting, message string) })
	if !ok {
		return
	}
	for setting, msg := range hr.HostRefusals() {
		nr.RecordHostRefusal(setting, msg)
	}
}

// hostMemory is the host's MemTotal in bytes, 0 when /proc/meminfo says nothing usable.
func hostMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
