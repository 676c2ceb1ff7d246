package endpointslice

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/controller/serviceendpoints"
)

// Group is the endpoints of one address type sharing one port set: the slices they go in.
type Group struct {
	AddressType discoveryv1.AddressType
	Ports       []discoveryv1.EndpointPort
	// Endpoints by address, each with a single address (a pod's IP of AddressType).
	Endpoints map[string]discoveryv1.Endpoint
}

func (g *Group) key() string { return groupKey(g.AddressType, g.Ports) }

func groupKey(t discoveryv1.AddressType, ports []discoveryv1.EndpointPort) string {
	keys := make([]string, 0, len(ports))
	for _, p := range ports {
		keys = append(keys, portKey(p))
	}
	sort.Strings(keys)
	return string(t) + "|" + strings.Join(keys, ";")
}

func portKey(p discoveryv1.EndpointPort) string {
	var name, proto, app string
	var port int32
	if p.Name != nil {
		name = *p.Name
	}
	if p.Protocol != nil {
		proto = string(*p.Protocol)
	}
	if p.Port != nil {
		port = *p.Port
	}
	if p.AppProtocol != nil {
		app = *p.AppProtocol
	}
	return fmt.Sprintf("%s/%d/%s/%s", name, port, proto, app)
}

// addressTypes are the slice address types svc's families call for (IPv4 when it names none).
func addressTypes(svc *corev1.Service) []discoveryv1.AddressType {
	if len(svc.Spec.IPFamilies) == 0 {
		return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
	}
	out := make([]discoveryv1.AddressType, 0, len(svc.Spec.IPFamilies))
	for _, f := range svc.Spec.IPFamilies {
		if f == corev1.IPv6Protocol {
			out = append(out, discoveryv1.AddressTypeIPv6)
		} else {
			out = append(out, discoveryv1.AddressTypeIPv4)
		}
	}
	return out
}

// Desired computes the endpoints svc's selected pods call for, by group. unresolved hears
// about ports a pod does not expose; a pod exposing none of a Service's ports is left out.
func Desired(svc *corev1.Service, pods []*corev1.Pod, unresolved func(*corev1.Pod, string, error)) map[string]*Group {
	groups := map[string]*Group{}
	for _, pod := range pods {
		if !serviceendpoints.Included(pod, true) {
			continue
		}
		var ports []discoveryv1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := serviceendpoints.TargetPort(pod, sp)
			if err != nil {
				if unresolved != nil {
					unresolved(pod, sp.Name, err)
				}
				continue
			}
			name, proto := sp.Name, sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		sort.Slice(ports, func(i, j int) bool { return portKey(ports[i]) < portKey(ports[j]) })
		cond := serviceendpoints.ConditionsOf(svc, pod)
		for _, t := range addressTypes(svc) {
			ip := serviceendpoints.PodIP(pod, t == discoveryv1.AddressTypeIPv6)
			if ip == "" {
				continue
			}
			ready, serving, terminating := cond.Ready, cond.Serving, cond.Terminating
			ep := discoveryv1.Endpoint{Addresses: []string{ip},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}}
			if h := serviceendpoints.Hostname(svc, pod); h != "" {
				ep.Hostname = &h
			}
			if pod.Spec.NodeName != "" {
				node := pod.Spec.NodeName
				ep.NodeName = &node
			}
			k := groupKey(t, ports)
			g := groups[k]
			if g == nil {
				g = &Group{AddressType: t, Ports: ports, Endpoints: map[string]discoveryv1.Endpoint{}}
				groups[k] = g
			}
			g.Endpoints[ip] = ep
		}
	}
	return groups
}

// plan is the writes one sync makes.
type plan struct {
	creates, updates, deletes []*discoveryv1.EndpointSlice
}

func (p plan) empty() bool { return len(p.creates)+len(p.updates)+len(p.deletes) == 0 }

// Labels are the labels of svc's slices: the Service's own plus the service-name and
// managed-by labels (and the headless mark).
func Labels(svc *corev1.Service) map[string]string {
	out := make(map[string]string, len(svc.Labels)+3)
	for k, v := range svc.Labels {
		out[k] = v
	}
	delete(out, serviceendpoints.HeadlessLabel)
	if serviceendpoints.Headless(svc) {
		out[serviceendpoints.HeadlessLabel] = ""
	}
	out[discoveryv1.LabelServiceName] = svc.Name
	out[discoveryv1.LabelManagedBy] = ManagedBy
	return out
}

func ownerRef(svc *corev1.Service) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: &yes, BlockOwnerDeletion: &yes}
}

// working is one slice being reshaped.
type working struct {
	s     *discoveryv1.EndpointSlice
	dirty bool
	isNew bool
}

// Reconcile plans the writes that turn current (svc's managed slices) into slices holding
// desired, moving as few endpoints as it can, at most max per slice.
func Reconcile(svc *corev1.Service, current []*discoveryv1.EndpointSlice, desired map[string]*Group, max int) plan {
	labels := Labels(svc)
	owner := ownerRef(svc)
	byGroup := map[string][]*discoveryv1.EndpointSlice{}
	sort.Slice(current, func(i, j int) bool { return current[i].Name < current[j].Name })
	for _, s := range current {
		k := groupKey(s.AddressType, s.Ports)
		byGroup[k] = append(byGroup[k], s)
	}
	fix := func(w *working) {
		if !apiequality.Semantic.DeepEqual(w.s.Labels, labels) {
			w.s.Labels = copyMap(labels)
			w.dirty = true
		}
		if len(w.s.OwnerReferences) != 1 || w.s.OwnerReferences[0].UID != svc.UID {
			w.s.OwnerReferences = []metav1.OwnerReference{owner}
			w.dirty = true
		}
	}
	newSlice := func(t discoveryv1.AddressType, ports []discoveryv1.EndpointPort) *working {
		return &working{isNew: true, dirty: true, s: &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{GenerateName: generateName(svc.Name), Namespace: svc.Namespace,
				Labels: copyMap(labels), OwnerReferences: []metav1.OwnerReference{owner}},
			AddressType: t, Ports: ports, Endpoints: []discoveryv1.Endpoint{}}}
	}
	var out []*working
	total := 0
	keys := make([]string, 0, len(desired))
	for k, g := range desired {
		keys = append(keys, k)
		total += len(g.Endpoints)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := desired[k]
		remaining := make(map[string]discoveryv1.Endpoint, len(g.Endpoints))
		for ip, ep := range g.Endpoints {
			remaining[ip] = ep
		}
		var ws []*working
		for _, s := range byGroup[k] {
			w := &working{s: s.DeepCopy()}
			kept := w.s.Endpoints[:0:0]
			for _, ep := range w.s.Endpoints {
				if len(ep.Addresses) == 0 {
					w.dirty = true
					continue
				}
				want, ok := remaining[ep.Addresses[0]]
				if !ok {
					w.dirty = true // gone, or a duplicate of one already placed
					continue
				}
				if !apiequality.Semantic.DeepEqual(ep, want) {
					w.dirty = true
				}
				kept = append(kept, want)
				delete(remaining, ep.Addresses[0])
			}
			w.s.Endpoints = kept
			fix(w)
			ws = append(ws, w)
		}
		delete(byGroup, k)
		ips := make([]string, 0, len(remaining))
		for ip := range remaining {
			ips = append(ips, ip)
		}
		sort.Strings(ips)
		// New endpoints go first where a write happens anyway, then where there is room,
		// then into new slices.
		sort.SliceStable(ws, func(i, j int) bool { return ws[i].dirty && !ws[j].dirty })
		for _, w := range ws {
			for len(ips) > 0 && len(w.s.Endpoints) < max {
				w.s.Endpoints = append(w.s.Endpoints, remaining[ips[0]])
				ips = ips[1:]
				w.dirty = true
			}
		}
		for len(ips) > 0 {
			w := newSlice(g.AddressType, g.Ports)
			for len(ips) > 0 && len(w.s.Endpoints) < max {
				w.s.Endpoints = append(w.s.Endpoints, remaining[ips[0]])
				ips = ips[1:]
			}
			ws = append(ws, w)
		}
		out = append(out, ws...)
	}
	// Slices of groups no longer wanted.
	var leftover []*discoveryv1.EndpointSlice
	for _, ss := range byGroup {
		leftover = append(leftover, ss...)
	}
	sort.Slice(leftover, func(i, j int) bool { return leftover[i].Name < leftover[j].Name })
	var p plan
	if total == 0 {
		// One empty placeholder says "this Service has no endpoints" (rather than "not yet
		// processed"): keep one of the right type if there is one.
		primary := addressTypes(svc)[0]
		var ph *working
		for i, s := range leftover {
			if s.AddressType == primary {
				ph = &working{s: s.DeepCopy()}
				leftover = append(leftover[:i:i], leftover[i+1:]...)
				break
			}
		}
		if ph == nil {
			for _, w := range out {
				if w.s.AddressType == primary && !w.isNew {
					ph = w
					break
				}
			}
		}
		if ph == nil {
			ph = newSlice(primary, nil)
		}
		if len(ph.s.Endpoints) > 0 || len(ph.s.Ports) > 0 {
			ph.s.Endpoints, ph.s.Ports = []discoveryv1.Endpoint{}, nil
			ph.dirty = true
		}
		fix(ph)
		for _, w := range out {
			if w != ph && !w.isNew {
				leftover = append(leftover, w.s)
			}
		}
		out = []*working{ph}
	}
	for _, w := range out {
		switch {
		case w.isNew:
			p.creates = append(p.creates, w.s)
		case len(w.s.Endpoints) == 0 && total > 0:
			p.deletes = append(p.deletes, w.s)
		case w.dirty:
			p.updates = append(p.updates, w.s)
		}
	}
	p.deletes = append(p.deletes, leftover...)
	return p
}

// generateName is the slices' name prefix: the Service's name, shortened so that the API
// server's random suffix still fits a DNS label.
func generateName(svc string) string {
	if len(svc) > 57 {
		svc = svc[:57]
	}
	return svc + "-"
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
