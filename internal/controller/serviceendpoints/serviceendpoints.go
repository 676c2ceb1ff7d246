package serviceendpoints

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// TriggerTimeAnnotation carries when the change that led to an Endpoints or EndpointSlice update
// happened; the service proxy measures network programming latency from it.
const TriggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time"

// HeadlessLabel marks the Endpoints and EndpointSlices of a headless Service.
const HeadlessLabel = "service.kubernetes.io/headless"

// Selects reports whether svc is one whose endpoints the controllers manage: a selector (even
// empty) means yes; none means someone else writes them (the API server's kubernetes Service,
// the cluster DNS Service, a user pointing a Service outside the cluster).
func Selects(svc *corev1.Service) bool {
	return svc.Spec.Selector != nil && svc.Spec.Type != corev1.ServiceTypeExternalName
}

// Headless reports whether svc has no cluster IP.
func Headless(svc *corev1.Service) bool { return svc.Spec.ClusterIP == corev1.ClusterIPNone }

// Pods lists the pods of svc's namespace its selector picks. An empty selector picks none, as
// upstream: a Service that selects everything is a mistake, not an intent.
func Pods(pods corelisters.PodLister, svc *corev1.Service) ([]*corev1.Pod, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, nil
	}
	return pods.Pods(svc.Namespace).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
}

// Included reports whether pod belongs in its Services' endpoints at all: it has an address and
// has not finished; a terminating pod only where terminating endpoints are kept.
func Included(pod *corev1.Pod, keepTerminating bool) bool {
	if pod.Status.PodIP == "" || pod.Spec.NodeName == "" {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	return keepTerminating || pod.DeletionTimestamp == nil
}

// Ready reports the pod's Ready condition.
func Ready(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Conditions are an endpoint's readiness as EndpointSlices carry it.
type Conditions struct {
	// Ready: the endpoint takes new traffic (serving and not terminating, or the Service
	// publishes not-ready addresses).
	Ready bool
	// Serving: the pod's readiness, whatever its termination.
	Serving bool
	// Terminating: the pod is being deleted.
	Terminating bool
}

// ConditionsOf derives pod's endpoint conditions for svc.
func ConditionsOf(svc *corev1.Service, pod *corev1.Pod) Conditions {
	serving := Ready(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	return Conditions{Ready: ready, Serving: serving || svc.Spec.PublishNotReadyAddresses, Terminating: terminating}
}

// Hostname is the DNS label pod carries in svc's endpoints: its spec.hostname, when its
// spec.subdomain names svc (the StatefulSet pattern); otherwise none.
func Hostname(svc *corev1.Service, pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// TargetPort resolves sp's targetPort on pod: a number as is (the port itself when unset), a
// name to the container port of that name and protocol.
func TargetPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
			for _, c := range cs {
				for _, p := range c.Ports {
					pp := p.Protocol
					if pp == "" {
						pp = corev1.ProtocolTCP
					}
					if p.Name == tp.StrVal && pp == proto {
						return p.ContainerPort, nil
					}
				}
			}
		}
		return 0, fmt.Errorf("no container port named %q (%s)", tp.StrVal, proto)
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, nil
	default:
		return sp.Port, nil
	}
}

// PodIP is pod's address of the given family (IPv6 true), if it has one.
func PodIP(pod *corev1.Pod, ipv6 bool) string {
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IP)
		if err == nil && (a.Is6() && !a.Is4In6()) == ipv6 {
			return ip.IP
		}
	}
	return ""
}

// Relevant reports whether a pod update could change any endpoint.
func Relevant(old, cur *corev1.Pod) bool {
	return old.ResourceVersion != cur.ResourceVersion && (old.Status.PodIP != cur.Status.PodIP ||
		len(old.Status.PodIPs) != len(cur.Status.PodIPs) ||
		Ready(old) != Ready(cur) || (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		old.Status.Phase != cur.Status.Phase || old.Spec.NodeName != cur.Spec.NodeName ||
		old.Spec.Hostname != cur.Spec.Hostname || old.Spec.Subdomain != cur.Spec.Subdomain ||
		!labels.Equals(old.Labels, cur.Labels))
}

// ServicesOf lists the keys (namespace/name) of the Services in pod's namespace that select pod
// with any of the label sets given (a pod's old and new labels).
func ServicesOf(services corelisters.ServiceLister, namespace string, podLabels ...map[string]string) ([]string, error) {
	svcs, err := services.Services(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, svc := range svcs {
		if !Selects(svc) || len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromValidatedSet(svc.Spec.Selector)
		for _, l := range podLabels {
			if sel.Matches(labels.Set(l)) {
				keys = append(keys, svc.Namespace+"/"+svc.Name)
				break
			}
		}
	}
	return keys, nil
}

// ServicesOfPodChange lists the keys of the Services whose endpoints a pod event may change: a
// pod handler's old and new objects (old nil for an add; a tombstone for a delete), none for an
// update no endpoint can see.
func ServicesOfPodChange(services corelisters.ServiceLister, old, cur any) []string {
	if t, ok := cur.(cache.DeletedFinalStateUnknown); ok {
		cur = t.Obj
	}
	pod, ok := cur.(*corev1.Pod)
	if !ok {
		return nil
	}
	sets := []map[string]string{pod.Labels}
	if o, ok := old.(*corev1.Pod); ok {
		if !Relevant(o, pod) {
			return nil
		}
		sets = append(sets, o.Labels)
	}
	keys, _ := ServicesOf(services, pod.Namespace, sets...)
	return keys
}

// TriggerTimes remembers, per Service key, when the earliest change not yet written out was
// observed. The controller notes a time as it enqueues a key and takes it as it syncs.
type TriggerTimes struct {
	mu    sync.Mutex
	times map[string]time.Time
}

// Note records t for key unless an earlier change is still pending.
func (tt *TriggerTimes) Note(key string, t time.Time) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.times == nil {
		tt.times = map[string]time.Time{}
	}
	if cur, ok := tt.times[key]; !ok || t.Before(cur) {
		tt.times[key] = t
	}
}

// Take returns and forgets key's pending trigger time (zero if none). A writer that fails puts
// it back with Note.
func (tt *TriggerTimes) Take(key string) time.Time {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	t := tt.times[key]
	delete(tt.times, key)
	return t
}

// FormatTriggerTime is the annotation's value for t.
func FormatTriggerTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
