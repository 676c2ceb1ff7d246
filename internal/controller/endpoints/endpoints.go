package endpoints

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-dev/skiff/internal/controller/serviceendpoints"
)

// Defaults.
const (
	// DefaultBatchPeriod is how long pod changes gather before a Service syncs: long enough to
	// fold a burst of pod updates into one write, short enough to stay far below a second.
	DefaultBatchPeriod = 50 * time.Millisecond
	// DefaultMaxAddresses is upstream's cap on addresses in one Endpoints object.
	DefaultMaxAddresses = 1000
)

// OverCapacityAnnotation marks an Endpoints object truncated to MaxAddresses (upstream's).
const OverCapacityAnnotation = "endpoints.kubernetes.io/over-capacity"

// leaderAnnotation marks Endpoints used as old-style leader-election locks: never leftovers.
const leaderAnnotation = "control-plane.alpha.kubernetes.io/leader"

// Config is what the controller needs.
type Config struct {
	Client kubernetes.Interface
	// Informers provides the Service, Pod and Endpoints informers.
	Informers informers.SharedInformerFactory
	// Recorder receives Warning events on failed writes (optional).
	Recorder record.EventRecorder
	Logger   *slog.Logger
	// BatchPeriod delays syncs caused by pod changes (default DefaultBatchPeriod; negative: none).
	BatchPeriod time.Duration
	// MaxAddresses caps the addresses of one Endpoints (default DefaultMaxAddresses).
	MaxAddresses int
	// Now is the clock of trigger times (default time.Now).
	Now func() time.Time
}

// Controller keeps Endpoints.
type Controller struct {
	cfg       Config
	log       *slog.Logger
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	triggers  serviceendpoints.TriggerTimes
}

// New checks cfg, registers its informers and returns the controller.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("endpoints: Config.Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("endpoints: Config.Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BatchPeriod == 0 {
		cfg.BatchPeriod = DefaultBatchPeriod
	}
	if cfg.MaxAddresses <= 0 {
		cfg.MaxAddresses = DefaultMaxAddresses
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "endpoints"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoints"})}
	si := cfg.Informers.Core().V1().Services()
	pi := cfg.Informers.Core().V1().Pods()
	ei := cfg.Informers.Core().V1().Endpoints()
	c.services, c.pods, c.endpoints = si.Lister(), pi.Lister(), ei.Lister()
	sr, err := si.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.serviceChanged,
		UpdateFunc: func(_, cur any) { c.serviceChanged(cur) },
		DeleteFunc: c.serviceChanged,
	})
	if err != nil {
		return nil, fmt.Errorf("endpoints: watching services: %w", err)
	}
	pr, err := pi.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.podChanged(nil, obj) },
		UpdateFunc: c.podChanged,
		DeleteFunc: func(obj any) { c.podChanged(nil, obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("endpoints: watching pods: %w", err)
	}
	er, err := ei.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.endpointsDeleted})
	if err != nil {
		return nil, fmt.Errorf("endpoints: watching endpoints: %w", err)
	}
	c.synced = []cache.InformerSynced{sr.HasSynced, pr.HasSynced, er.HasSynced}
	return c, nil
}

func (c *Controller) serviceChanged(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.triggers.Note(key, c.cfg.Now())
	c.queue.Add(key)
}

func (c *Controller) podChanged(old, cur any) {
	now := c.cfg.Now()
	for _, key := range serviceendpoints.ServicesOfPodChange(c.services, old, cur) {
		c.triggers.Note(key, now)
		if c.cfg.BatchPeriod > 0 {
			c.queue.AddAfter(key, c.cfg.BatchPeriod)
		} else {
			c.queue.Add(key)
		}
	}
}

// endpointsDeleted resyncs the Service of an Endpoints someone deleted, which recreates it.
func (c *Controller) endpointsDeleted(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// Run keeps Endpoints with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if workers < 1 {
		workers = 1
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.checkLeftovers()
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
}

// checkLeftovers queues every Endpoints so that those whose Service went while the controller
// was down are deleted.
func (c *Controller) checkLeftovers() {
	eps, err := c.endpoints.List(everything)
	if err != nil {
		return
	}
	for _, ep := range eps {
		if _, leader := ep.Annotations[leaderAnnotation]; !leader {
			c.queue.Add(ep.Namespace + "/" + ep.Name)
		}
	}
}

func (c *Controller) worker(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		if err := c.sync(ctx, key); err != nil {
			c.log.Info("syncing endpoints failed, retrying", "service", key, "err", err)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// sync makes the Endpoints of one Service match its pods.
func (c *Controller) sync(ctx context.Context, key string) (err error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	trigger := c.triggers.Take(key)
	defer func() {
		if err != nil && !trigger.IsZero() {
			c.triggers.Note(key, trigger)
		}
	}()
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		if _, err := c.endpoints.Endpoints(ns).Get(name); apierrors.IsNotFound(err) {
			return nil
		}
		err := c.cfg.Client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err == nil {
			c.log.Debug("endpoints of a deleted service removed", "service", key)
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if !serviceendpoints.Selects(svc) || svc.DeletionTimestamp != nil {
		return nil
	}
	pods, err := serviceendpoints.Pods(c.pods, svc)
	if err != nil {
		return err
	}
	subsets, truncated := Subsets(svc, pods, c.cfg.MaxAddresses, func(pod *corev1.Pod, port string, err error) {
		c.log.Debug("target port not resolved", "service", key, "pod", pod.Namespace+"/"+pod.Name, "port", port, "err", err)
	})
	cur, err := c.endpoints.Endpoints(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	want := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if cur != nil {
		want = cur.DeepCopy()
	}
	want.Labels = Labels(svc)
	want.Subsets = subsets
	if want.Annotations == nil {
		want.Annotations = map[string]string{}
	}
	if truncated {
		want.Annotations[OverCapacityAnnotation] = "truncated"
	} else {
		delete(want.Annotations, OverCapacityAnnotation)
	}
	if cur != nil && apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) &&
		apiequality.Semantic.DeepEqual(cur.Labels, want.Labels) &&
		cur.Annotations[OverCapacityAnnotation] == want.Annotations[OverCapacityAnnotation] {
		return nil
	}
	if !trigger.IsZero() {
		want.Annotations[serviceendpoints.TriggerTimeAnnotation] = serviceendpoints.FormatTriggerTime(trigger)
	} else {
		delete(want.Annotations, serviceendpoints.TriggerTimeAnnotation)
	}
	if len(want.Annotations) == 0 {
		want.Annotations = nil
	}
	client := c.cfg.Client.CoreV1().Endpoints(ns)
	if cur == nil {
		_, err = client.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
	} else {
		_, err = client.Update(ctx, want, metav1.UpdateOptions{})
	}
	if err != nil {
		if c.cfg.Recorder != nil && !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			reason := "FailedToUpdateEndpoint"
			if cur == nil {
				reason = "FailedToCreateEndpoint"
			}
			c.cfg.Recorder.Eventf(svc, corev1.EventTypeWarning, reason, "Failed to write endpoint %s: %v", key, err)
		}
		return err
	}
	c.log.Debug("endpoints written", "service", key, "subsets", len(subsets))
	return nil
}

// Labels are the Endpoints' labels for svc: the Service's own, with the headless mark when it
// has no cluster IP; labels the object had that the Service does not carry are dropped.
func Labels(svc *corev1.Service) map[string]string {
	out := make(map[string]string, len(svc.Labels)+1)
	for k, v := range svc.Labels {
		out[k] = v
	}
	delete(out, serviceendpoints.HeadlessLabel)
	if serviceendpoints.Headless(svc) {
		out[serviceendpoints.HeadlessLabel] = ""
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// address is one pod's contribution.
type address struct {
	addr  corev1.EndpointAddress
	ready bool
	ports []corev1.EndpointPort
}

// Subsets computes the subsets of svc's Endpoints from its selected pods: addresses grouped by
// the port set they resolve to, sorted, at most max addresses (ready ones kept first).
// unresolved hears about ports a pod does not expose.
func Subsets(svc *corev1.Service, pods []*corev1.Pod, max int, unresolved func(*corev1.Pod, string, error)) ([]corev1.EndpointSubset, bool) {
	ipv6 := len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	var addrs []address
	for _, pod := range pods {
		if !serviceendpoints.Included(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		ip := pod.Status.PodIP
		if len(svc.Spec.IPFamilies) > 0 {
			ip = serviceendpoints.PodIP(pod, ipv6)
		}
		if ip == "" {
			continue
		}
		a := address{addr: corev1.EndpointAddress{IP: ip, Hostname: serviceendpoints.Hostname(svc, pod),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}},
			ready: svc.Spec.PublishNotReadyAddresses || serviceendpoints.Ready(pod)}
		if pod.Spec.NodeName != "" {
			node := pod.Spec.NodeName
			a.addr.NodeName = &node
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := serviceendpoints.TargetPort(pod, sp)
			if err != nil {
				if unresolved != nil {
					unresolved(pod, sp.Name, err)
				}
				continue
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			a.ports = append(a.ports, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: proto, AppProtocol: sp.AppProtocol})
		}
		// A Service with ports needs one the pod has; a headless one without ports lists
		// addresses alone (DNS is all it is for).
		if len(a.ports) == 0 && (len(svc.Spec.Ports) > 0 || !serviceendpoints.Headless(svc)) {
			continue
		}
		sortPorts(a.ports)
		addrs = append(addrs, a)
	}
	sort.SliceStable(addrs, func(i, j int) bool {
		if addrs[i].ready != addrs[j].ready {
			return addrs[i].ready
		}
		return addrs[i].addr.IP < addrs[j].addr.IP
	})
	truncated := len(addrs) > max
	if truncated {
		addrs = addrs[:max]
	}
	byPorts := map[string]*corev1.EndpointSubset{}
	var keys []string
	for _, a := range addrs {
		k := portsKey(a.ports)
		ss := byPorts[k]
		if ss == nil {
			ss = &corev1.EndpointSubset{Ports: a.ports}
			byPorts[k] = ss
			keys = append(keys, k)
		}
		if a.ready {
			ss.Addresses = append(ss.Addresses, a.addr)
		} else {
			ss.NotReadyAddresses = append(ss.NotReadyAddresses, a.addr)
		}
	}
	sort.Strings(keys)
	out := make([]corev1.EndpointSubset, 0, len(keys))
	for _, k := range keys {
		ss := byPorts[k]
		sortAddresses(ss.Addresses)
		sortAddresses(ss.NotReadyAddresses)
		out = append(out, *ss)
	}
	if len(out) == 0 {
		return nil, truncated
	}
	return out, truncated
}

func sortPorts(ps []corev1.EndpointPort) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Name != ps[j].Name {
			return ps[i].Name < ps[j].Name
		}
		if ps[i].Port != ps[j].Port {
			return ps[i].Port < ps[j].Port
		}
		return ps[i].Protocol < ps[j].Protocol
	})
}

func sortAddresses(as []corev1.EndpointAddress) {
	sort.Slice(as, func(i, j int) bool { return as[i].IP < as[j].IP })
}

func portsKey(ps []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s/%d/%s;", p.Name, p.Port, p.Protocol)
	}
	return b.String()
}

var everything = labels.Everything()
