package prober

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestProbesUseTheGivenDial: pod IPs are reachable only where the node's network is, so every
// network probe must connect through Config.Dial. Here Dial stands for another namespace: it
// reaches the test server at an address the test process itself has no route to.
func TestProbesUseTheGivenDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	var mu sync.Mutex
	var dialed []string
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	c := newChecker(nil, DefaultUserAgent, dial)
	st := &v1.PodStatus{PodIP: "192.0.2.77", PodIPs: []v1.PodIP{{IP: "192.0.2.77"}}}
	ctr := &v1.Container{Name: "app"}
	for _, tc := range []struct {
		name  string
		probe *v1.Probe
	}{
		{"httpGet", &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt(8080)}}}},
		{"tcpSocket", &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt(8080)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			dialed = nil
			mu.Unlock()
			tc.probe.TimeoutSeconds = 2
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			v, out, err := c.run(ctx, tc.probe, ctr, st, "skiff://c1")
			if err != nil || v != vSuccess {
				t.Fatalf("verdict %v output %q err %v", v, out, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(dialed) == 0 || dialed[0] != net.JoinHostPort("192.0.2.77", strconv.Itoa(8080)) {
				t.Errorf("dialed %v, want the pod IP through Dial", dialed)
			}
		})
	}
}
