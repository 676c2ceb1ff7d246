package nodestatus

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Upstream's registration backoff (100 ms doubling to 7 s) and status update retries.
const (
	registerBackoffInitial = 100 * time.Millisecond
	registerBackoffMax     = 7 * time.Second
	statusUpdateRetries    = 5
)

// Agent keeps one Node object and its Lease true. Create it with New and start it with Run; the
// other methods are safe to call from any goroutine, before or during Run.
type Agent struct {
	cfg    Config
	client kubernetes.Interface
	host   *host
	log    *slog.Logger
	lease  *leaseRenewer

	// poke asks the status loop for an update before the next tick.
	poke       chan struct{}
	registered chan struct{}
	regOnce    sync.Once

	mu      sync.Mutex
	notes   map[string]string // setting -> why it was refused
	uid     types.UID
	podCIDR string

	// Owned by the status loop.
	pressure      pressureState
	lastReport    time.Time
	checksFailing bool
	needsRegister bool
}

// New validates cfg, fills its defaults and returns an Agent that talks to the API server only
// through client.
func New(client kubernetes.Interface, cfg Config) (*Agent, error) {
	if err := cfg.complete(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:           cfg,
		client:        client,
		host:          newHost(cfg.HostRoot),
		log:           cfg.Logger.With("node", cfg.NodeName),
		poke:          make(chan struct{}, 1),
		registered:    make(chan struct{}),
		notes:         map[string]string{},
		needsRegister: true,
	}
	a.lease = &leaseRenewer{
		client: client, name: cfg.NodeName, duration: cfg.LeaseDuration, clock: cfg.Clock,
		log: a.log, nodeUID: a.nodeUID,
	}
	return a, nil
}

// Run registers the Node, then keeps its status and Lease fresh until ctx ends. The Lease is
// renewed on its own goroutine, so that a slow status write never delays the heartbeat; it starts
// once the Node exists, so that the Lease is owned by the Node from its first write (and a node
// that cannot register does not look alive). It returns when both loops have stopped.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			return
		case <-a.registered:
		}
		a.lease.run(ctx, a.cfg.LeaseRenewInterval)
	}()
	a.statusLoop(ctx)
	wg.Wait()
	return nil
}

// Registered is closed once the Node exists in the API (created or adopted).
func (a *Agent) Registered() <-chan struct{} { return a.registered }

// PodCIDR is the Node's spec.podCIDR as last seen, which is the one the node must use: the
// configured PodCIDR until the Node has one, then the Node's (an IPAM controller's allocation wins
// over the flag). Empty before registration when none is configured.
func (a *Agent) PodCIDR() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.podCIDR != "" {
		return a.podCIDR
	}
	return a.cfg.PodCIDR
}

// RecordHostRefusal notes that the host refused a setting (e.g. setting "oom_score_adj", message
// "negative values are refused; containers keep 0"). The first note for a setting is logged, and
// each distinct note recorded as a Warning event; all show on the Node in the
// HostSettingsRefused condition from the next status update, which is requested at once. Calling
// it again with the same note costs nothing, so callers need no once-guard of their own.
func (a *Agent) RecordHostRefusal(setting, message string) {
	a.mu.Lock()
	old, seen := a.notes[setting]
	if seen && old == message {
		a.mu.Unlock()
		return
	}
	a.notes[setting] = message
	a.mu.Unlock()
	a.log.Warn("host refused a setting; carrying on without it", "setting", setting, "message", message)
	a.recordEvent(corev1.EventTypeWarning, "HostSettingRefused", setting+": "+message)
	a.RequestStatusUpdate()
}

// RequestStatusUpdate asks for a status update now rather than at the next tick (after a
// readiness check's answer changed, say). It never blocks; requests made while one is pending
// merge.
func (a *Agent) RequestStatusUpdate() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

func (a *Agent) hostNotes() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.notes)
}

// remember keeps what other parts need from the Node as stored.
func (a *Agent) remember(n *corev1.Node) {
	a.mu.Lock()
	a.uid = n.UID
	if n.Spec.PodCIDR != a.podCIDR && n.Spec.PodCIDR != "" {
		if a.podCIDR != "" {
			a.log.Info("node pod CIDR changed", "from", a.podCIDR, "to", n.Spec.PodCIDR)
		}
		a.podCIDR = n.Spec.PodCIDR
	}
	a.mu.Unlock()
	a.regOnce.Do(func() { close(a.registered) })
}

// nodeUID is the Node's UID for the Lease's owner reference. Before registration it asks the API
// server, so that a Lease created while the Node exists (an agent restart) is owned at once.
func (a *Agent) nodeUID(ctx context.Context) types.UID {
	a.mu.Lock()
	uid := a.uid
	a.mu.Unlock()
	if uid != "" {
		return uid
	}
	n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return n.UID
}

func (a *Agent) recordEvent(eventType, reason, message string) {
	if a.cfg.Recorder == nil {
		return
	}
	// Upstream's kubelet refers to its Node with the node name as UID, so events recorded before
	// the Node exists still aggregate with later ones.
	ref := &corev1.ObjectReference{Kind: "Node", Name: a.cfg.NodeName, UID: types.UID(a.cfg.NodeName)}
	a.cfg.Recorder.Event(ref, eventType, reason, message)
}

// statusLoop registers, then updates the status every StatusUpdateFrequency (sooner on request),
// and polls failing readiness checks in between so that Ready is reported promptly.
func (a *Agent) statusLoop(ctx context.Context) {
	clk := a.cfg.Clock
	for {
		if a.needsRegister {
			backoff := registerBackoffInitial
			for {
				err := a.register(ctx)
				if err == nil {
					break
				}
				a.log.Warn("registering node failed", "err", err, "retryIn", backoff)
				select {
				case <-ctx.Done():
					return
				case <-clk.After(backoff):
				}
				backoff = min(2*backoff, registerBackoffMax)
			}
			a.needsRegister = false
		}
		if err := a.syncStatus(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("updating node status failed", "err", err)
		}

		timer := clk.NewTimer(a.cfg.StatusUpdateFrequency)
	wait:
		for {
			var fast <-chan time.Time
			if a.checksFailing {
				fast = clk.After(a.cfg.ReadinessPollInterval)
			}
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C():
				break wait
			case <-a.poke:
				timer.Stop()
				break wait
			case <-fast:
				if a.checksPass() {
					timer.Stop()
					break wait
				}
			}
		}
	}
}

func (a *Agent) checksPass() bool {
	for _, check := range a.cfg.ReadinessChecks {
		if check() != nil {
			return false
		}
	}
	return true
}

// syncStatus writes the status if it changed, or if the last write is StatusReportFrequency old,
// retrying a few times on errors as upstream does. A Node that vanished is registered again: an
// agent whose Node was deleted (kubectl delete node) comes back rather than heartbeating into the
// void.
func (a *Agent) syncStatus(ctx context.Context) error {
	var err error
	for i := 0; i < statusUpdateRetries; i++ {
		if err = a.tryUpdateStatus(ctx); err == nil {
			return nil
		}
		if apierrors.IsNotFound(err) {
			a.log.Warn("node is gone; registering it again")
			a.needsRegister = true
			return err
		}
		if ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("after %d attempts: %w", statusUpdateRetries, err)
}

func (a *Agent) tryUpdateStatus(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	orig, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	a.remember(orig)
	now := a.cfg.Clock.Now()
	o := a.observe()
	a.checksFailing = len(o.problems) > 0
	node := orig.DeepCopy()
	events := a.setStatus(node, o, now)
	if !a.lastReport.IsZero() && now.Before(a.lastReport.Add(a.cfg.StatusReportFrequency)) && !statusChanged(&orig.Status, &node.Status) {
		return nil
	}
	patch, err := statusPatch(orig, node)
	if err != nil {
		return err
	}
	if string(patch) == "{}" {
		// Nothing to send, not even a heartbeat (times have a resolution of a second).
		a.lastReport = now
		return nil
	}
	if _, err := nodes.Patch(ctx, a.cfg.NodeName, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return err
	}
	a.lastReport = now
	for _, ev := range events {
		a.recordEvent(corev1.EventTypeNormal, ev, fmt.Sprintf("Node %s status is now: %s", a.cfg.NodeName, ev))
	}
	return nil
}
