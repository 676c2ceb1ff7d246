package prober

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// probeOnceWith runs a single readiness probe round through a worker and
// returns the cached result and the events it produced.
func probeOnceWith(t *testing.T, c v1.Container) (Result, []Event) {
	t.Helper()
	c.Name = "app"
	c.ReadinessProbe.FailureThreshold = 1
	h := newHarness(t, c)
	h.worker(Readiness).doProbe(context.Background())
	r, _ := h.m.results.Get(Readiness, "fake://c1")
	return r, h.events()
}

func portOf(t *testing.T, rawURL string) int32 {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(u.Port())
	return int32(p)
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int32 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return int32(p)
}

func TestHTTPProbe(t *testing.T) {
	var mu sync.Mutex
	var lastReq *http.Request
	big := strings.Repeat("x", 20<<10)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastReq = r.Clone(context.Background())
		mu.Unlock()
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	mux.HandleFunc("/399", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(399) })
	mux.HandleFunc("/400", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) })
	mux.HandleFunc("/local-redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/local-redirect-to-fail", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/fail", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	var srvPort int32
	mux.HandleFunc("/remote-redirect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", fmt.Sprintf("http://localhost:%d/fail", srvPort))
		w.WriteHeader(http.StatusFound)
		fmt.Fprint(w, big)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	srvPort = portOf(t, srv.URL)
	tls := httptest.NewTLSServer(mux)
	defer tls.Close()
	refused := closedPort(t)

	get := func(path string, port intstr.IntOrString) *v1.Probe {
		return &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: path, Port: port}}, TimeoutSeconds: 5}
	}
	num := intstr.FromInt32(srvPort)
	tests := []struct {
		name    string
		probe   *v1.Probe
		ports   []v1.ContainerPort
		want    Result
		wantEvt string // regexp over "Reason: Message"; empty = no event
	}{
		{"200", get("/ok", num), nil, Success, ""},
		{"path without slash", get("ok", num), nil, Success, ""},
		{"399 is a warning success", get("/399", num), nil, Success, `^ProbeWarning: Readiness probe warning: Probe terminated redirects, Response body: $`},
		{"400 fails", get("/400", num), nil, Failure, `^Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 400$`},
		{"500 fails", get("/fail", num), nil, Failure, `^Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 500$`},
		{"same-host redirect followed", get("/local-redirect", num), nil, Success, ""},
		{"same-host redirect to failure", get("/local-redirect-to-fail", num), nil, Failure, `statuscode: 500$`},
		{"redirect loop stops", get("/loop", num), nil, Failure, `^Unhealthy: Readiness probe failed: Get "/loop": stopped after 10 redirects$`},
		{"other-host redirect not followed", get("/remote-redirect", num), nil, Success,
			`^ProbeWarning: Readiness probe warning: Probe terminated redirects, Response body: x+$`},
		{"named port", get("/ok", intstr.FromString("web")), []v1.ContainerPort{{Name: "web", ContainerPort: srvPort}}, Success, ""},
		{"numeric string port", get("/ok", intstr.FromString(strconv.Itoa(int(srvPort)))), nil, Success, ""},
		{"unknown named port", get("/ok", intstr.FromString("http")), nil, Failure,
			`^Unhealthy: Readiness probe errored and resulted in unknown state: strconv.Atoi: parsing "http": invalid syntax$`},
		{"connection refused", get("/", intstr.FromInt32(refused)), nil, Failure,
			fmt.Sprintf(`^Unhealthy: Readiness probe failed: Get "http://127.0.0.1:%d/": dial tcp 127.0.0.1:%d: connect: connection refused$`, refused, refused)},
		{"https without verification", &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{
			Path: "/ok", Port: intstr.FromInt32(portOf(t, tls.URL)), Scheme: v1.URISchemeHTTPS}}}, nil, Success, ""},
		{"explicit host", &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{
			Host: "localhost", Path: "/ok", Port: num}}}, nil, Success, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ev := probeOnceWith(t, v1.Container{ReadinessProbe: tt.probe, Ports: tt.ports})
			if got != tt.want {
				t.Fatalf("result %v want %v (events %+v)", got, tt.want, ev)
			}
			if tt.wantEvt == "" {
				if len(ev) > 0 {
					t.Fatalf("unexpected events %+v", ev)
				}
				return
			}
			if len(ev) != 1 || !regexp.MustCompile(tt.wantEvt).MatchString(ev[0].Reason+": "+ev[0].Message) {
				t.Fatalf("events %+v, want match %q", ev, tt.wantEvt)
			}
			if strings.Contains(ev[0].Message, "xxx") && strings.Count(ev[0].Message, "x") != 10<<10 {
				t.Fatalf("body quoted %d bytes, want the 10 KiB cap", strings.Count(ev[0].Message, "x"))
			}
		})
	}

	t.Run("headers", func(t *testing.T) {
		p := get("/ok?q=1", num)
		p.HTTPGet.HTTPHeaders = []v1.HTTPHeader{{Name: "X-Probe", Value: "a"}, {Name: "X-Probe", Value: "b"}, {Name: "Host", Value: "example.test"}}
		if got, _ := probeOnceWith(t, v1.Container{ReadinessProbe: p}); got != Success {
			t.Fatal(got)
		}
		mu.Lock()
		defer mu.Unlock()
		if ua := lastReq.Header.Get("User-Agent"); ua != "kube-probe/1.37" {
			t.Errorf("User-Agent %q", ua)
		}
		if a := lastReq.Header.Get("Accept"); a != "*/*" {
			t.Errorf("Accept %q", a)
		}
		if v := lastReq.Header.Values("X-Probe"); len(v) != 2 {
			t.Errorf("X-Probe %q", v)
		}
		if lastReq.Host != "example.test" || lastReq.URL.RawQuery != "q=1" {
			t.Errorf("host %q query %q", lastReq.Host, lastReq.URL.RawQuery)
		}
	})
	t.Run("user agent override", func(t *testing.T) {
		p := get("/ok", num)
		p.HTTPGet.HTTPHeaders = []v1.HTTPHeader{{Name: "User-Agent", Value: "mine"}, {Name: "Accept", Value: "text/plain"}}
		probeOnceWith(t, v1.Container{ReadinessProbe: p})
		mu.Lock()
		defer mu.Unlock()
		if lastReq.Header.Get("User-Agent") != "mine" || lastReq.Header.Get("Accept") != "text/plain" {
			t.Errorf("headers %v", lastReq.Header)
		}
	})
}

func TestHTTPProbeTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	p := &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromInt32(portOf(t, srv.URL))}}, TimeoutSeconds: 1}
	got, ev := probeOnceWith(t, v1.Container{ReadinessProbe: p})
	if got != Failure || len(ev) != 1 || !strings.Contains(ev[0].Message, "Client.Timeout exceeded") {
		t.Fatalf("result %v events %+v", got, ev)
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := int32(l.Addr().(*net.TCPAddr).Port)
	refused := closedPort(t)
	tests := []struct {
		name  string
		act   v1.TCPSocketAction
		ports []v1.ContainerPort
		want  Result
		evt   string
	}{
		{"open", v1.TCPSocketAction{Port: intstr.FromInt32(open)}, nil, Success, ""},
		{"named", v1.TCPSocketAction{Port: intstr.FromString("db")}, []v1.ContainerPort{{Name: "db", ContainerPort: open}}, Success, ""},
		{"host", v1.TCPSocketAction{Host: "127.0.0.1", Port: intstr.FromInt32(open)}, nil, Success, ""},
		{"refused", v1.TCPSocketAction{Port: intstr.FromInt32(refused)}, nil, Failure,
			fmt.Sprintf("Readiness probe failed: dial tcp 127.0.0.1:%d: connect: connection refused", refused)},
		{"port out of range", v1.TCPSocketAction{Port: intstr.FromInt32(70000)}, nil, Failure,
			"Readiness probe errored and resulted in unknown state: invalid port number: 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act := tt.act
			got, ev := probeOnceWith(t, v1.Container{Ports: tt.ports, ReadinessProbe: &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &act}}})
			if got != tt.want {
				t.Fatalf("result %v want %v (%+v)", got, tt.want, ev)
			}
			if (tt.evt == "") != (len(ev) == 0) || (tt.evt != "" && ev[0].Message != tt.evt) {
				t.Fatalf("events %+v want %q", ev, tt.evt)
			}
		})
	}
}

func TestGRPCProbe(t *testing.T) {
	var mu sync.Mutex
	var ua []string
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		ua = md.Get("user-agent")
		mu.Unlock()
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, hs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Stop()
	bare := grpc.NewServer() // speaks gRPC but not the health protocol
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go bare.Serve(l2)
	defer bare.Stop()
	port := int32(l.Addr().(*net.TCPAddr).Port)
	refused := closedPort(t)
	tests := []struct {
		name    string
		port    int32
		service *string
		want    Result
		evt     string // regexp
	}{
		{"serving", port, nil, Success, ""},
		{"serving named", port, ptr.To(""), Success, ""},
		{"not serving", port, ptr.To("down"), Failure, `^Readiness probe failed: service unhealthy \(responded with "NOT_SERVING"\)$`},
		{"unknown service", port, ptr.To("nope"), Failure, `^Readiness probe failed: error: health rpc probe failed: rpc error: code = NotFound`},
		{"no health service", int32(l2.Addr().(*net.TCPAddr).Port), nil, Failure,
			`^Readiness probe failed: error: this server does not implement the grpc health protocol \(grpc.health.v1.Health\): unknown service grpc.health.v1.Health$`},
		{"refused", refused, nil, Failure, fmt.Sprintf(`^Readiness probe failed: error: failed to connect service at "127.0.0.1:%d": .*connection refused`, refused)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &v1.Probe{ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: tt.port, Service: tt.service}}, TimeoutSeconds: 5}
			got, ev := probeOnceWith(t, v1.Container{ReadinessProbe: p})
			if got != tt.want {
				t.Fatalf("result %v want %v (%+v)", got, tt.want, ev)
			}
			if (tt.evt == "") != (len(ev) == 0) || (tt.evt != "" && !regexp.MustCompile(tt.evt).MatchString(ev[0].Message)) {
				t.Fatalf("events %+v want %q", ev, tt.evt)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ua) != 1 || !strings.HasPrefix(ua[0], "kube-probe/1.37") {
		t.Fatalf("user-agent %q", ua)
	}
}
