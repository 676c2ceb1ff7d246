package endpoints

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiff-dev/skiff/internal/controller/serviceendpoints"
)

type podOpt func(*corev1.Pod)

func notReady(p *corev1.Pod) { p.Status.Conditions = nil }
func terminating(p *corev1.Pod) {
	now := metav1.Now()
	p.DeletionTimestamp = &now
}
func named(port string, n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: port, ContainerPort: n})
	}
}
func hostname(h, sub string) podOpt {
	return func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = h, sub }
}

func mkPod(name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func mkSvc(mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.20",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}}}
	if mut != nil {
		mut(s)
	}
	return s
}

func addr(ip, pod string) corev1.EndpointAddress {
	node := "node-1"
	return corev1.EndpointAddress{IP: ip, NodeName: &node, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: pod, UID: types.UID("uid-" + pod)}}
}

func TestSubsets(t *testing.T) {
	http8080 := []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}
	http9090 := []corev1.EndpointPort{{Name: "http", Port: 9090, Protocol: corev1.ProtocolTCP}}
	withHost := func(a corev1.EndpointAddress, h string) corev1.EndpointAddress { a.Hostname = h; return a }
	for _, tc := range []struct {
		name      string
		svc       *corev1.Service
		pods      []*corev1.Pod
		max       int
		want      []corev1.EndpointSubset
		truncated bool
	}{
		{name: "ready and not ready", svc: mkSvc(nil),
			pods: []*corev1.Pod{mkPod("b", "10.0.0.2", named("http", 8080)), mkPod("a", "10.0.0.1", named("http", 8080)),
				mkPod("c", "10.0.0.3", named("http", 8080), notReady), mkPod("d", "", named("http", 8080)),
				mkPod("e", "10.0.0.5", named("http", 8080), terminating)},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a"), addr("10.0.0.2", "b")},
				NotReadyAddresses: []corev1.EndpointAddress{addr("10.0.0.3", "c")}, Ports: http8080}}},
		{name: "publish not ready keeps terminating and unready as ready",
			svc:  mkSvc(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			pods: []*corev1.Pod{mkPod("c", "10.0.0.3", named("http", 8080), notReady), mkPod("e", "10.0.0.5", named("http", 8080), terminating)},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.0.0.3", "c"), addr("10.0.0.5", "e")}, Ports: http8080}}},
		{name: "named port resolved per pod", svc: mkSvc(nil),
			pods: []*corev1.Pod{mkPod("a", "10.0.0.1", named("http", 8080)), mkPod("b", "10.0.0.2", named("http", 9090)), mkPod("x", "10.0.0.9")},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: http8080},
				{Addresses: []corev1.EndpointAddress{addr("10.0.0.2", "b")}, Ports: http9090}}},
		{name: "headless without ports, hostnames",
			svc:  mkSvc(func(s *corev1.Service) { s.Name, s.Spec.ClusterIP, s.Spec.Ports = "nginx", corev1.ClusterIPNone, nil }),
			pods: []*corev1.Pod{mkPod("web-0", "10.0.0.1", hostname("web-0", "nginx")), mkPod("web-1", "10.0.0.2", hostname("web-1", "other"))},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{withHost(addr("10.0.0.1", "web-0"), "web-0"), addr("10.0.0.2", "web-1")}}}},
		{name: "truncated, ready first", svc: mkSvc(nil), max: 2,
			pods:      []*corev1.Pod{mkPod("c", "10.0.0.3", named("http", 8080), notReady), mkPod("a", "10.0.0.1", named("http", 8080)), mkPod("b", "10.0.0.2", named("http", 8080))},
			want:      []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a"), addr("10.0.0.2", "b")}, Ports: http8080}},
			truncated: true},
		{name: "no pods", svc: mkSvc(nil), want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.max
			if max == 0 {
				max = 1000
			}
			got, truncated := Subsets(tc.svc, tc.pods, max, nil)
			if !apiequality.Semantic.DeepEqual(got, tc.want) || truncated != tc.truncated {
				t.Errorf("Subsets =\n%+v (truncated %v)\nwant\n%+v (truncated %v)", got, truncated, tc.want, tc.truncated)
			}
		})
	}
}

type fixture struct {
	client *fake.Clientset
	c      *Controller
	now    time.Time
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{client: fake.NewClientset(objs...), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	factory := informers.NewSharedInformerFactory(f.client, 0)
	c, err := New(Config{Client: f.client, Informers: factory, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			err = factory.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Endpoints:
			err = factory.Core().V1().Endpoints().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() != "list" && a.GetVerb() != "watch" {
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func TestSync(t *testing.T) {
	ctx := context.Background()
	node := "node-1"
	current := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"team": "a"}},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1", NodeName: &node,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "a", UID: "uid-a"}}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}}}
	for _, tc := range []struct {
		name   string
		objs   []runtime.Object
		key    string
		writes []string
	}{
		{name: "creates", objs: []runtime.Object{mkSvc(nil), mkPod("a", "10.0.0.1", named("http", 8080))}, key: "ns/web",
			writes: []string{"create endpoints"}},
		{name: "unchanged is left alone", objs: []runtime.Object{mkSvc(nil), mkPod("a", "10.0.0.1", named("http", 8080)), current}, key: "ns/web"},
		{name: "updates", objs: []runtime.Object{mkSvc(nil), mkPod("a", "10.0.0.1", named("http", 8080), notReady), current}, key: "ns/web",
			writes: []string{"update endpoints"}},
		{name: "no selector is left alone", objs: []runtime.Object{mkSvc(func(s *corev1.Service) { s.Spec.Selector = nil }), current}, key: "ns/web"},
		{name: "service gone deletes", objs: []runtime.Object{current}, key: "ns/web", writes: []string{"delete endpoints"}},
		{name: "nothing at all", key: "ns/web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.objs...)
			f.c.triggers.Note(tc.key, f.now)
			if err := f.c.sync(ctx, tc.key); err != nil {
				t.Fatal(err)
			}
			got := f.writes()
			if len(got) != len(tc.writes) {
				t.Fatalf("writes = %v, want %v", got, tc.writes)
			}
			for i := range got {
				if got[i] != tc.writes[i] {
					t.Fatalf("writes = %v, want %v", got, tc.writes)
				}
			}
			if len(got) == 1 && got[0] != "delete endpoints" {
				ep, err := f.client.CoreV1().Endpoints("ns").Get(ctx, "web", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if v := ep.Annotations[serviceendpoints.TriggerTimeAnnotation]; v != "2026-03-01T12:00:00Z" {
					t.Errorf("trigger time annotation = %q", v)
				}
				if ep.Labels["team"] != "a" {
					t.Errorf("labels = %v", ep.Labels)
				}
			}
		})
	}
}
