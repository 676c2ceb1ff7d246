package endpointslice

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/skiff-dev/skiff/internal/controller/serviceendpoints"
)

func mkPod(name, ip string, ready bool, port int32) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-1", Hostname: name, Subdomain: "web",
			Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
}

func mkSvc() *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.20", IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}}}
}

func pods(n int, port int32) []*corev1.Pod {
	var out []*corev1.Pod
	for i := 0; i < n; i++ {
		out = append(out, mkPod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), true, port))
	}
	return out
}

// apply plays a plan onto a set of slices the way the API server would.
func apply(cur []*discoveryv1.EndpointSlice, p plan, n *int) []*discoveryv1.EndpointSlice {
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range cur {
		byName[s.Name] = s
	}
	for _, s := range p.creates {
		s = s.DeepCopy()
		*n++
		s.Name = fmt.Sprintf("%s%d", s.GenerateName, *n)
		byName[s.Name] = s
	}
	for _, s := range p.updates {
		byName[s.Name] = s.DeepCopy()
	}
	for _, s := range p.deletes {
		delete(byName, s.Name)
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func count(slices []*discoveryv1.EndpointSlice) (endpoints int, ips map[string]bool) {
	ips = map[string]bool{}
	for _, s := range slices {
		endpoints += len(s.Endpoints)
		for _, e := range s.Endpoints {
			ips[e.Addresses[0]] = true
		}
	}
	return endpoints, ips
}

func TestReconcileSteps(t *testing.T) {
	svc := mkSvc()
	var n int
	var cur []*discoveryv1.EndpointSlice
	type step struct {
		name                      string
		pods                      []*corev1.Pod
		creates, updates, deletes int
		slices, endpoints         int
	}
	for _, st := range []step{
		{name: "no pods: a placeholder", creates: 1, slices: 1},
		{name: "no pods again: nothing", slices: 1},
		{name: "250 pods fill the placeholder's group in 100s", pods: pods(250, 8080), creates: 3, deletes: 1, slices: 3, endpoints: 250},
		{name: "steady", pods: pods(250, 8080), slices: 3, endpoints: 250},
		{name: "one pod gone touches one slice", pods: pods(250, 8080)[1:], updates: 1, slices: 3, endpoints: 249},
		{name: "a new pod fills the room", pods: append(pods(250, 8080)[1:], mkPod("new", "10.9.9.9", true, 8080)), updates: 1, slices: 3, endpoints: 250},
		{name: "one pod not ready touches one slice",
			pods:    append(append(pods(250, 8080)[1:249], mkPod("p249", "10.0.0.250", false, 8080)), mkPod("new", "10.9.9.9", true, 8080)),
			updates: 1, slices: 3, endpoints: 250},
		{name: "ports change: new group, old slices go", pods: pods(3, 9090), creates: 1, deletes: 3, slices: 1, endpoints: 3},
		{name: "all gone: back to a placeholder", updates: 1, slices: 1},
	} {
		desired := Desired(svc, st.pods, nil)
		p := Reconcile(svc, cur, desired, 100)
		if len(p.creates) != st.creates || len(p.updates) != st.updates || len(p.deletes) != st.deletes {
			t.Fatalf("%s: creates %d updates %d deletes %d; want %d %d %d", st.name, len(p.creates), len(p.updates), len(p.deletes),
				st.creates, st.updates, st.deletes)
		}
		cur = apply(cur, p, &n)
		eps, ips := count(cur)
		if len(cur) != st.slices || eps != st.endpoints || len(ips) != st.endpoints {
			t.Fatalf("%s: %d slices, %d endpoints (%d distinct); want %d, %d", st.name, len(cur), eps, len(ips), st.slices, st.endpoints)
		}
		for _, s := range cur {
			if len(s.Endpoints) > 100 {
				t.Fatalf("%s: slice %s has %d endpoints", st.name, s.Name, len(s.Endpoints))
			}
			if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy {
				t.Fatalf("%s: labels %v", st.name, s.Labels)
			}
			if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != svc.UID {
				t.Fatalf("%s: owners %v", st.name, s.OwnerReferences)
			}
		}
	}
}

func TestDesiredEndpoint(t *testing.T) {
	svc := mkSvc()
	svc.Spec.PublishNotReadyAddresses = false
	now := metav1.Now()
	term := mkPod("t", "10.0.0.3", true, 8080)
	term.DeletionTimestamp = &now
	g := Desired(svc, []*corev1.Pod{mkPod("web", "10.0.0.1", true, 8080), mkPod("u", "10.0.0.2", false, 8080), term}, nil)
	if len(g) != 1 {
		t.Fatalf("groups = %d", len(g))
	}
	for _, grp := range g {
		if grp.AddressType != discoveryv1.AddressTypeIPv4 || len(grp.Ports) != 1 || *grp.Ports[0].Port != 8080 || *grp.Ports[0].Name != "http" {
			t.Fatalf("group %+v", grp)
		}
		for ip, want := range map[string][3]bool{"10.0.0.1": {true, true, false}, "10.0.0.2": {false, false, false}, "10.0.0.3": {false, true, true}} {
			ep, ok := grp.Endpoints[ip]
			if !ok {
				t.Fatalf("no endpoint %s", ip)
			}
			c := ep.Conditions
			if *c.Ready != want[0] || *c.Serving != want[1] || *c.Terminating != want[2] {
				t.Errorf("%s: ready %v serving %v terminating %v, want %v", ip, *c.Ready, *c.Serving, *c.Terminating, want)
			}
			if *ep.NodeName != "node-1" || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				t.Errorf("%s: node %v ref %v", ip, ep.NodeName, ep.TargetRef)
			}
		}
		if h := grp.Endpoints["10.0.0.1"].Hostname; h == nil || *h != "web" {
			t.Errorf("hostname of a pod whose subdomain is the service: %v", h)
		}
	}
}

func TestSyncWaitsForOwnWrites(t *testing.T) {
	ctx := context.Background()
	svc := mkSvc()
	p := mkPod("a", "10.0.0.1", true, 8080)
	client := fake.NewClientset(svc, p)
	var made int
	client.PrependReactor("create", "endpointslices", func(a clienttesting.Action) (bool, runtime.Object, error) {
		s := a.(clienttesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		made++
		s.Name = fmt.Sprintf("%s%d", s.GenerateName, made)
		s.ResourceVersion = "42"
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c, err := New(Config{Client: client, Informers: factory, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	factory.Core().V1().Services().Informer().GetIndexer().Add(svc)
	factory.Core().V1().Pods().Informer().GetIndexer().Add(p)
	c.triggers.Note("ns/web", now)
	if err := c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	got, err := client.DiscoveryV1().EndpointSlices("ns").Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[serviceendpoints.TriggerTimeAnnotation] != "2026-03-01T12:00:00Z" || len(got.Endpoints) != 1 {
		t.Errorf("slice = %+v", got)
	}
	// The informer has not seen the slice: a second sync must wait rather than create again.
	if err := c.sync(ctx, "ns/web"); err != errStaleCache {
		t.Fatalf("sync on a stale cache = %v, want errStaleCache", err)
	}
	factory.Discovery().V1().EndpointSlices().Informer().GetIndexer().Add(got)
	if err := c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if made != 1 {
		t.Errorf("%d slices created, want 1", made)
	}
	// Expectations time out: a slice someone deleted meanwhile does not block forever.
	c.wrote("ns/web", "web-9", "99")
	now = now.Add(expectationTimeout + time.Second)
	if !c.fresh("ns/web", nil) {
		t.Error("an expired expectation still blocks")
	}
}
