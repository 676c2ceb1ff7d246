package endpoints_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/fakenodes"
)

func eventually(t *testing.T, within time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndpointsAndSlices runs both controllers in a real server against fake nodes: a
// readiness flip moves an address between ready and not ready, 150 pods spread over two
// slices, and a selector-less Service's hand-written Endpoints stay as written.
func TestEndpointsAndSlices(t *testing.T) {
	s := testserver.Start(t, testserver.Options{Mutate: func(c *server.Config) {
		c.DisableControllerManager = false
		c.Controllers = []string{"endpoints", "endpointslice"}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cs := s.Client
	var sick atomic.Value
	sick.Store("")
	nodes, err := fakenodes.Start(ctx, cs, fakenodes.Options{Nodes: []string{"n1", "n2"}, Namespaces: []string{"default"},
		Outcome: func(p *corev1.Pod) fakenodes.Outcome {
			return fakenodes.Outcome{NotReady: p.Name == sick.Load().(string)}
		}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "a"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A Service with no endpoints gets an empty Endpoints and one placeholder slice.
	eventually(t, 10*time.Second, func() string {
		sl, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=app"})
		if err != nil {
			return err.Error()
		}
		if _, err := cs.CoreV1().Endpoints("default").Get(ctx, "app", metav1.GetOptions{}); err != nil {
			return err.Error()
		}
		if len(sl.Items) != 1 || len(sl.Items[0].Endpoints) != 0 {
			return fmt.Sprintf("%d slices", len(sl.Items))
		}
		return ""
	})
	const n = 150
	for i := 0; i < n; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("a-%03d", i), Labels: map[string]string{"app": "a"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	counts := func() (ready, notReady, slices, sliceReady int, err error) {
		ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "app", metav1.GetOptions{})
		if err != nil {
			return
		}
		for _, ss := range ep.Subsets {
			ready += len(ss.Addresses)
			notReady += len(ss.NotReadyAddresses)
		}
		sl, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=app"})
		if err != nil {
			return
		}
		slices = len(sl.Items)
		for _, s := range sl.Items {
			if len(s.Endpoints) > 100 {
				return 0, 0, 0, 0, fmt.Errorf("slice %s holds %d endpoints", s.Name, len(s.Endpoints))
			}
			for _, e := range s.Endpoints {
				if *e.Conditions.Ready {
					sliceReady++
				}
			}
		}
		return
	}
	expect := func(wantReady, wantNotReady, wantSlices int) func() string {
		return func() string {
			r, nr, sl, sr, err := counts()
			if err != nil {
				return err.Error()
			}
			if r != wantReady || nr != wantNotReady || sl != wantSlices || sr != wantReady {
				return fmt.Sprintf("endpoints %d ready %d not, %d slices with %d ready; want %d %d %d", r, nr, sl, sr, wantReady, wantNotReady, wantSlices)
			}
			return ""
		}
	}
	eventually(t, 60*time.Second, expect(n, 0, 2))
	sick.Store("a-007")
	nodes.Resync()
	eventually(t, 10*time.Second, expect(n-1, 1, 2))
	sick.Store("")
	nodes.Resync()
	eventually(t, 10*time.Second, expect(n, 0, 2))

	// publishNotReadyAddresses counts the unready pod as ready.
	sick.Store("a-008")
	nodes.Resync()
	eventually(t, 10*time.Second, expect(n-1, 1, 2))
	cur, err := cs.CoreV1().Services("default").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.PublishNotReadyAddresses = true
	if _, err := cs.CoreV1().Services("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, expect(n, 0, 2))

	// Selector-less: the user's Endpoints are theirs.
	manual := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "manual"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := cs.CoreV1().Services("default").Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eps := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual"}, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "192.0.2.77"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}}
	if _, err := cs.CoreV1().Endpoints("default").Create(ctx, eps, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	got, err := cs.CoreV1().Endpoints("default").Get(ctx, "manual", metav1.GetOptions{})
	if err != nil || len(got.Subsets) != 1 || got.Subsets[0].Addresses[0].IP != "192.0.2.77" {
		t.Errorf("manual endpoints changed: %v %v", got, err)
	}

	// Deleting the Service takes its Endpoints and slices along.
	if err := cs.CoreV1().Services("default").Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() string {
		sl, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=app"})
		if err != nil {
			return err.Error()
		}
		_, err = cs.CoreV1().Endpoints("default").Get(ctx, "app", metav1.GetOptions{})
		if len(sl.Items) != 0 || err == nil {
			return fmt.Sprintf("%d slices, endpoints err %v", len(sl.Items), err)
		}
		return ""
	})
}
