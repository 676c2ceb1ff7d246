package prober

import (
	"context"
	"fmt"
	"net"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Config wires a Manager to the node. Exec and Statuses are required.
type Config struct {
	Exec     ContainerExecer
	Statuses PodStatusProvider
	// Clock drives periods and initial delays; the real clock by default.
	Clock clock.WithTicker
	// Dial connects httpGet, tcpSocket and grpc probes to their targets; a plain dialer of
	// the agent's own network namespace by default. An agent whose node lives in another
	// namespace dials from there: pod IPs are routed only in the node's namespace.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// UserAgent for HTTP and gRPC probes; DefaultUserAgent by default.
	UserAgent string
	// UpdatesBuffer and EventsBuffer size the two channels (default 64, 256).
	UpdatesBuffer int
	EventsBuffer  int
}

// Manager runs the probe workers of every pod on the node.
type Manager struct {
	clock    clock.WithTicker
	statuses PodStatusProvider
	checker  *checker
	results  *Results
	events   chan Event

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	pods    map[string]*v1.Pod
	workers map[workerKey]*worker
	dropped int
}

// NewManager returns a Manager; call Stop to end all workers.
func NewManager(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.UpdatesBuffer <= 0 {
		cfg.UpdatesBuffer = 64
	}
	if cfg.EventsBuffer <= 0 {
		cfg.EventsBuffer = 256
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		clock:    cfg.Clock,
		statuses: cfg.Statuses,
		checker:  newChecker(cfg.Exec, cfg.UserAgent, cfg.Dial),
		results:  newResults(cfg.UpdatesBuffer, ctx.Done()),
		events:   make(chan Event, cfg.EventsBuffer),
		ctx:      ctx,
		cancel:   cancel,
		pods:     map[string]*v1.Pod{},
		workers:  map[workerKey]*worker{},
	}
}

// Results is the cache the status path reads.
func (m *Manager) Results() *Results { return m.results }

// Updates is Results().Updates(): every result change, including Kill
// requests for liveness and startup failures.
func (m *Manager) Updates() <-chan Update { return m.results.Updates() }

// Events delivers the events to record. Unlike Updates it never blocks a
// worker: when the consumer lags, events are dropped (Dropped counts them),
// as an event recorder would under pressure.
func (m *Manager) Events() <-chan Event { return m.events }

// Dropped reports how many events were dropped on a full Events channel.
func (m *Manager) Dropped() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

// Stop ends every worker and waits for them.
func (m *Manager) Stop() {
	m.cancel()
	m.mu.Lock()
	ws := make([]*worker, 0, len(m.workers))
	for _, w := range m.workers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	for _, w := range ws {
		<-w.done
	}
}

// probedContainers lists the containers that can carry probes: app
// containers and restartable (sidecar) init containers.
func probedContainers(pod *v1.Pod, fn func(c v1.Container, init bool)) {
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			fn(c, true)
		}
	}
	for _, c := range pod.Spec.Containers {
		fn(c, false)
	}
}

func probeOf(c *v1.Container, k Kind) *v1.Probe {
	switch k {
	case Liveness:
		return c.LivenessProbe
	case Readiness:
		return c.ReadinessProbe
	}
	return c.StartupProbe
}

// AddPod starts the workers for pod's probes. Calling it again for the same
// pod (same UID) only refreshes the pod object the workers see, which is how
// a deletion timestamp reaches them.
func (m *Manager) AddPod(pod *v1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return
	}
	uid := string(pod.UID)
	_, known := m.pods[uid]
	m.pods[uid] = pod
	if known {
		return
	}
	probedContainers(pod, func(c v1.Container, init bool) {
		for _, k := range []Kind{Liveness, Readiness, Startup} {
			spec := probeOf(&c, k)
			if spec == nil {
				continue
			}
			key := workerKey{uid, c.Name, k}
			ctx, cancel := context.WithCancel(m.ctx)
			w := &worker{m: m, key: key, container: c, init: init, spec: spec, cancel: cancel,
				trigger: make(chan struct{}, 1), done: make(chan struct{})}
			m.workers[key] = w
			go w.run(ctx)
		}
	})
}

// RemovePod stops pod's workers; their cached results go with them.
func (m *Manager) RemovePod(uid types.UID) {
	m.mu.Lock()
	delete(m.pods, string(uid))
	var ws []*worker
	for k, w := range m.workers {
		if k.uid == string(uid) {
			ws = append(ws, w)
		}
	}
	m.mu.Unlock()
	for _, w := range ws {
		w.cancel()
	}
}

// CleanupPods removes every pod not in desired.
func (m *Manager) CleanupPods(desired map[types.UID]struct{}) {
	m.mu.Lock()
	var gone []types.UID
	for uid := range m.pods {
		if _, ok := desired[types.UID(uid)]; !ok {
			gone = append(gone, types.UID(uid))
		}
	}
	m.mu.Unlock()
	for _, uid := range gone {
		m.RemovePod(uid)
	}
}

func (m *Manager) workerExited(w *worker) {
	if w.containerID != "" {
		m.results.remove(w.key.kind, w.containerID)
	}
	m.mu.Lock()
	if m.workers[w.key] == w {
		delete(m.workers, w.key)
	}
	m.mu.Unlock()
}

func (m *Manager) pod(uid string) (*v1.Pod, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pods[uid]
	return p, ok
}

func (m *Manager) podUID(uid string) types.UID { return types.UID(uid) }

func (m *Manager) triggerReadiness(uid, container string) {
	m.mu.Lock()
	w := m.workers[workerKey{uid, container, Readiness}]
	m.mu.Unlock()
	if w != nil {
		select {
		case w.trigger <- struct{}{}:
		default:
		}
	}
}

// started says whether the container instance has passed its startup probe
// (or has none).
func (m *Manager) started(pod *v1.Pod, c *v1.Container, containerID string) bool {
	if c.StartupProbe == nil {
		return true
	}
	r, ok := m.results.Get(Startup, containerID)
	return ok && r == Success
}

func (m *Manager) emit(pod *v1.Pod, c *v1.Container, init bool, reason, msg string) {
	field := "spec.containers{%s}"
	if init {
		field = "spec.initContainers{%s}"
	}
	e := Event{PodUID: pod.UID, Namespace: pod.Namespace, PodName: pod.Name, ContainerName: c.Name,
		FieldPath: fmt.Sprintf(field, c.Name), Type: v1.EventTypeWarning, Reason: reason, Message: msg}
	select {
	case m.events <- e:
	default:
		m.mu.Lock()
		m.dropped++
		m.mu.Unlock()
	}
}

// UpdatePodStatus fills Started and Ready of every container status from
// the probe results, as the kubelet must before it writes pod status:
// a container is started once running and past its startup probe, and
// ready once started and past its readiness probe (or has none). Plain init
// containers are ready when they exited 0.
func (m *Manager) UpdatePodStatus(pod *v1.Pod, st *v1.PodStatus) {
	specs := map[string]*v1.Container{}
	for i := range pod.Spec.Containers {
		specs[pod.Spec.Containers[i].Name] = &pod.Spec.Containers[i]
	}
	sidecars := map[string]*v1.Container{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = c
		}
	}
	apply := func(cs *v1.ContainerStatus, spec *v1.Container) {
		started := false
		if cs.State.Running != nil && spec != nil {
			started = m.started(pod, spec, cs.ContainerID)
		}
		cs.Started = &started
		ready := false
		if started {
			if spec.ReadinessProbe == nil {
				ready = true
			} else if r, ok := m.results.Get(Readiness, cs.ContainerID); ok && r == Success {
				ready = true
			}
		}
		cs.Ready = ready
	}
	for i := range st.ContainerStatuses {
		apply(&st.ContainerStatuses[i], specs[st.ContainerStatuses[i].Name])
	}
	for i := range st.InitContainerStatuses {
		cs := &st.InitContainerStatuses[i]
		if spec, ok := sidecars[cs.Name]; ok {
			apply(cs, spec)
			continue
		}
		cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
	}
}
