package allocator_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/etcd"
	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
)

func service(name string, mut ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80}}}}
	for _, m := range mut {
		m(s)
	}
	return s
}

func withIP(ip string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.ClusterIP = ip }
}
func nodePort(np int32) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = np }
}

func create(t *testing.T, c kubernetes.Interface, s *corev1.Service) (*corev1.Service, error) {
	t.Helper()
	return c.CoreV1().Services("default").Create(context.Background(), s, metav1.CreateOptions{})
}

func mustCreate(t *testing.T, c kubernetes.Interface, s *corev1.Service) *corev1.Service {
	t.Helper()
	out, err := create(t, c, s)
	if err != nil {
		t.Fatalf("create %s: %v", s.Name, err)
	}
	return out
}

// wantInvalid checks a 422 naming field with a message containing msg.
func wantInvalid(t *testing.T, err error, field, msg string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("err = %v, want 422 Invalid", err)
	}
	st := err.(apierrors.APIStatus).Status()
	if st.Code != 422 {
		t.Fatalf("code %d", st.Code)
	}
	for _, c := range st.Details.Causes {
		if c.Field == field && strings.Contains(c.Message, msg) {
			return
		}
	}
	t.Fatalf("err = %v, want %s: ...%s", err, field, msg)
}

func TestServiceAllocation(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client
	ctx := context.Background()

	k, err := c.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || k.Spec.ClusterIP != "10.96.0.1" {
		t.Fatalf("kubernetes Service: %v, %v", k, err)
	}
	_, err = create(t, c, service("steal", withIP("10.96.0.1")))
	wantInvalid(t, err, "spec.clusterIPs[0]", "provided IP is already allocated")

	t.Run("100 concurrent creates get distinct addresses", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[string]string{"10.96.0.1": "kubernetes"}
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := create(t, c, service(fmt.Sprintf("c-%d", i)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				ip := out.Spec.ClusterIP
				if prev, dup := seen[ip]; dup {
					t.Errorf("%s given to %s and %s", ip, prev, out.Name)
				}
				seen[ip] = out.Name
				if !strings.HasPrefix(ip, "10.") || len(out.Spec.ClusterIPs) != 1 || out.Spec.ClusterIPs[0] != ip ||
					len(out.Spec.IPFamilies) != 1 || out.Spec.IPFamilies[0] != corev1.IPv4Protocol ||
					out.Spec.IPFamilyPolicy == nil || *out.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
					t.Errorf("%s: spec %+v", out.Name, out.Spec)
				}
			}()
		}
		wg.Wait()
		if len(seen) != 101 {
			t.Fatalf("%d distinct addresses, want 101", len(seen))
		}
	})

	t.Run("requested address", func(t *testing.T) {
		out := mustCreate(t, c, service("dns", withIP("10.96.0.10")))
		if out.Spec.ClusterIP != "10.96.0.10" {
			t.Fatalf("clusterIP %s", out.Spec.ClusterIP)
		}
		_, err := create(t, c, service("dns2", withIP("10.96.0.10")))
		wantInvalid(t, err, "spec.clusterIPs[0]", "failed to allocate IP 10.96.0.10: provided IP is already allocated")
		_, err = create(t, c, service("far", withIP("192.168.1.1")))
		wantInvalid(t, err, "spec.clusterIPs[0]", "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12")

		// A dry run reserves nothing.
		dry, err := c.CoreV1().Services("default").Create(ctx, service("dry", withIP("10.96.0.11")), metav1.CreateOptions{DryRun: []string{"All"}})
		if err != nil || dry.Spec.ClusterIP != "10.96.0.11" {
			t.Fatalf("dry run: %v", err)
		}
		mustCreate(t, c, service("after-dry", withIP("10.96.0.11")))

		// Deleting frees the address.
		if err := c.CoreV1().Services("default").Delete(ctx, "dns", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, c, service("dns-again", withIP("10.96.0.10")))
	})

	t.Run("headless and ExternalName get no address", func(t *testing.T) {
		h := mustCreate(t, c, service("headless", withIP("None")))
		e := mustCreate(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}})
		if h.Spec.ClusterIP != "None" || e.Spec.ClusterIP != "" {
			t.Fatalf("headless %q, ExternalName %q", h.Spec.ClusterIP, e.Spec.ClusterIP)
		}
	})

	t.Run("node ports", func(t *testing.T) {
		np := mustCreate(t, c, service("np", nodePort(0)))
		if p := np.Spec.Ports[0].NodePort; p < 30000 || p > 32767 {
			t.Fatalf("nodePort %d", p)
		}
		mustCreate(t, c, service("np-req", nodePort(30080)))
		_, err := create(t, c, service("np-taken", nodePort(30080)))
		wantInvalid(t, err, "spec.ports[0].nodePort", "provided port is already allocated")
		_, err = create(t, c, service("np-far", nodePort(8080)))
		wantInvalid(t, err, "spec.ports[0].nodePort", "provided port is not in the valid range. The range of valid ports is 30000-32767")

		lb := mustCreate(t, c, service("lb", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}))
		if lb.Spec.Ports[0].NodePort == 0 || lb.Spec.HealthCheckNodePort == 0 || lb.Spec.HealthCheckNodePort == lb.Spec.Ports[0].NodePort {
			t.Fatalf("load balancer: nodePort %d, healthCheckNodePort %d", lb.Spec.Ports[0].NodePort, lb.Spec.HealthCheckNodePort)
		}

		// A type change by patch gives the node port back.
		_, err = c.CoreV1().Services("default").Patch(ctx, "np-req", types.MergePatchType,
			[]byte(`{"spec":{"type":"ClusterIP"}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, c, service("np-reuse", nodePort(30080)))
		// And back to NodePort draws a new one.
		back, err := c.CoreV1().Services("default").Patch(ctx, "np-req", types.MergePatchType,
			[]byte(`{"spec":{"type":"NodePort"}}`), metav1.PatchOptions{})
		if err != nil || back.Spec.Ports[0].NodePort == 0 || back.Spec.Ports[0].NodePort == 30080 {
			t.Fatalf("back to NodePort: %v, %+v", err, back)
		}
		// Deleting frees the ports.
		if err := c.CoreV1().Services("default").Delete(ctx, "np-reuse", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, c, service("np-reuse2", nodePort(30080)))
	})
}

func TestServiceAllocationSurvivesRestart(t *testing.T) {
	s := testserver.Start(t)
	seen := map[string]string{"10.96.0.1": "kubernetes"}
	seenPorts := map[int32]string{}
	add := func(c kubernetes.Interface, name string) {
		out := mustCreate(t, c, service(name, nodePort(0)))
		if prev, dup := seen[out.Spec.ClusterIP]; dup {
			t.Fatalf("%s given to %s and %s", out.Spec.ClusterIP, prev, name)
		}
		seen[out.Spec.ClusterIP] = name
		np := out.Spec.Ports[0].NodePort
		if prev, dup := seenPorts[np]; dup {
			t.Fatalf("node port %d given to %s and %s", np, prev, name)
		}
		seenPorts[np] = name
	}
	for i := range 30 {
		add(s.Client, fmt.Sprintf("before-%d", i))
	}
	mustCreate(t, s.Client, service("pinned", withIP("10.96.0.50")))
	s = s.Restart(t)
	_, err := create(t, s.Client, service("pinned2", withIP("10.96.0.50")))
	wantInvalid(t, err, "spec.clusterIPs[0]", "provided IP is already allocated")
	for i := range 30 {
		add(s.Client, fmt.Sprintf("after-%d", i))
	}
	k, err := s.Client.CoreV1().Services("default").Get(context.Background(), "kubernetes", metav1.GetOptions{})
	if err != nil || k.Spec.ClusterIP != "10.96.0.1" {
		t.Fatalf("kubernetes Service after restart: %v", err)
	}
}

// A lost bitmap (restored etcd backup, manual deletion) is rebuilt from the Services at start.
func TestRepairAtStartRebuildsLostBitmaps(t *testing.T) {
	dir, err := os.MkdirTemp("", "skiff-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := testserver.Start(t, testserver.Options{DataDir: dir})
	held := map[string]bool{"10.96.0.1": true}
	for i := range 10 {
		out := mustCreate(t, s.Client, service(fmt.Sprintf("s-%d", i), nodePort(int32(30000+i))))
		held[out.Spec.ClusterIP] = true
	}
	s.Stop()

	h, err := etcd.Start(context.Background(), etcd.Config{DataDir: dir, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.Client().Delete(context.Background(), "/registry/ranges/", clientv3.WithPrefix())
	h.Close()
	if err != nil || resp.Deleted != 2 {
		t.Fatalf("deleting the bitmaps: %v (%d deleted)", err, resp.Deleted)
	}

	s = testserver.Start(t, testserver.Options{DataDir: dir})
	for ip := range held {
		_, err := create(t, s.Client, service("again-"+strings.ReplaceAll(ip, ".", "-"), withIP(ip)))
		wantInvalid(t, err, "spec.clusterIPs[0]", "provided IP is already allocated")
	}
	_, err = create(t, s.Client, service("port-again", nodePort(30003)))
	wantInvalid(t, err, "spec.ports[0].nodePort", "provided port is already allocated")
}

func TestSmallServiceRangeRunsOut(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Mutate: func(c *server.Config) {
		c.ServiceClusterIPRange = "10.0.0.0/29"
		c.ServiceNodePortRange = "30000-30001"
	}})
	// A /29 has six usable addresses; the kubernetes Service holds the first.
	for i := range 5 {
		mustCreate(t, s.Client, service(fmt.Sprintf("s-%d", i)))
	}
	_, err := create(t, s.Client, service("one-too-many"))
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to allocate a serviceIP: range is full") {
		t.Fatalf("err = %v, want 500 range is full", err)
	}
	for _, name := range []string{"s-0", "s-1"} {
		if err := s.Client.CoreV1().Services("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	np := mustCreate(t, s.Client, service("np", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 81}}
	}))
	if np.Spec.Ports[0].NodePort == np.Spec.Ports[1].NodePort {
		t.Fatalf("node ports %+v", np.Spec.Ports)
	}
	_, err = create(t, s.Client, service("np2", nodePort(0)))
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to allocate a nodePort: range is full") {
		t.Fatalf("err = %v, want 500 range is full", err)
	}
}

func TestInvalidRangesFailStart(t *testing.T) {
	for _, mut := range []func(*server.Config){
		func(c *server.Config) { c.ServiceClusterIPRange = "10.0.0.0/8" },
		func(c *server.Config) { c.ServiceClusterIPRange = "nonsense" },
		func(c *server.Config) { c.ServiceNodePortRange = "32767-30000" },
	} {
		srv, err := testserver.StartServer(testserver.Options{Mutate: mut})
		if err == nil {
			srv.Stop()
			t.Fatal("server started with an invalid range")
		}
		if !strings.Contains(err.Error(), "--service-") {
			t.Fatalf("err = %v, want it to name the flag", err)
		}
	}
}
