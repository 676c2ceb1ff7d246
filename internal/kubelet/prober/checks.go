package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/kubelet/expansion"
)

// verdict is one probe execution's outcome before thresholds apply.
// warning counts as success but deserves a ProbeWarning event; an error
// (probe could not be run at all) is retried and then counts as failure.
type verdict int

const (
	vSuccess verdict = iota
	vWarning
	vFailure
)

const (
	// DefaultUserAgent is what upstream 1.37's kubelet sends.
	DefaultUserAgent = "kube-probe/1.37"
	// maxBody caps what an HTTP probe reads of a response: only a redirect
	// warning quotes it, and a probe must not be a way to make the node read
	// unbounded data.
	maxBody = 10 << 10
	// maxExecOutput caps the exec output carried into events the same way.
	maxExecOutput = 10 << 10
	maxRedirects  = 10
)

// checker runs single probe executions; it holds no per-container state.
type checker struct {
	exec      ContainerExecer
	userAgent string
	transport *http.Transport
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newChecker(exec ContainerExecer, userAgent string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *checker {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	c := &checker{exec: exec, userAgent: userAgent, dial: dial}
	c.transport = &http.Transport{
		// Probes target pod IPs the node routes to directly; a proxy from the
		// agent's environment must not intercept them.
		Proxy:             nil,
		DisableKeepAlives: true,
		// Health endpoints commonly serve self-signed certificates; upstream
		// probes never verify them.
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
		DisableCompression: true,
		DialContext:        c.dial,
	}
	return c
}

// timeoutOf applies the API default of 1 s for timeoutSeconds.
func timeoutOf(p *v1.Probe) time.Duration {
	if p.TimeoutSeconds <= 0 {
		return time.Second
	}
	return time.Duration(p.TimeoutSeconds) * time.Second
}

// run executes p once against the container.
func (c *checker) run(ctx context.Context, p *v1.Probe, container *v1.Container, st *v1.PodStatus, containerID string) (verdict, string, error) {
	timeout := timeoutOf(p)
	switch {
	case p.Exec != nil:
		return c.doExec(ctx, p.Exec, container, containerID, timeout)
	case p.HTTPGet != nil:
		return c.doHTTP(ctx, p.HTTPGet, container, st, timeout)
	case p.TCPSocket != nil:
		return c.doTCP(ctx, p.TCPSocket, container, st, timeout)
	case p.GRPC != nil:
		return c.doGRPC(ctx, p.GRPC, st, timeout)
	}
	return vFailure, "", errors.New("missing probe handler")
}

// bareID strips the "<runtime>://" prefix that status container IDs carry.
func bareID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

func (c *checker) doExec(ctx context.Context, e *v1.ExecAction, container *v1.Container, containerID string, timeout time.Duration) (verdict, string, error) {
	if c.exec == nil {
		return vFailure, "", errors.New("exec probes are not supported by this node")
	}
	// Only literal env values are known here; references to valueFrom
	// variables stay verbatim rather than silently becoming empty.
	static := map[string]string{}
	for _, ev := range container.Env {
		if ev.ValueFrom == nil {
			static[ev.Name] = expansion.Expand(ev.Value, expansion.MapOf(static))
		}
	}
	cmd := expansion.Strings(e.Command, expansion.MapOf(static))
	ectx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stdout, stderr, code, err := c.exec.ExecSync(ectx, bareID(containerID), cmd, timeout)
	out := append(stdout[:len(stdout):len(stdout)], stderr...)
	if len(out) > maxExecOutput {
		out = out[:maxExecOutput]
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return vFailure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
		}
		return vFailure, "", err
	}
	if code != 0 {
		return vFailure, string(out), nil
	}
	return vSuccess, string(out), nil
}

// resolvePort turns a probe port (number or container port name) into a
// number. A name that matches no port is tried as a number, and that parse
// error is what users see, as upstream.
func resolvePort(p intstr.IntOrString, container *v1.Container) (int, error) {
	var port int
	if p.Type == intstr.Int {
		port = p.IntValue()
	} else {
		found := false
		for _, cp := range container.Ports {
			if cp.Name == p.StrVal {
				port, found = int(cp.ContainerPort), true
				break
			}
		}
		if !found {
			n, err := strconv.Atoi(p.StrVal)
			if err != nil {
				return 0, err
			}
			port = n
		}
	}
	if port <= 0 || port > 65535 {
		return port, fmt.Errorf("invalid port number: %v", port)
	}
	return port, nil
}

func podIP(st *v1.PodStatus) string {
	if st == nil {
		return ""
	}
	if st.PodIP != "" {
		return st.PodIP
	}
	if len(st.PodIPs) > 0 {
		return st.PodIPs[0].IP
	}
	return ""
}

func probeURL(scheme, host string, port int, path string) *url.URL {
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	return u
}

func (c *checker) doHTTP(ctx context.Context, h *v1.HTTPGetAction, container *v1.Container, st *v1.PodStatus, timeout time.Duration) (verdict, string, error) {
	scheme := strings.ToLower(string(h.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := h.Host
	if host == "" {
		host = podIP(st)
	}
	port, err := resolvePort(h.Port, container)
	if err != nil {
		return vFailure, "", err
	}
	u := probeURL(scheme, host, port, h.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return vFailure, "", err
	}
	for _, hd := range h.HTTPHeaders {
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if _, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	}
	client := &http.Client{
		Timeout:   timeout,
		Transport: c.transport,
		// A probe follows redirects only within the host it was pointed at:
		// a pod must not be able to aim the node's requests elsewhere.
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}
	res, err := client.Do(req)
	if err != nil {
		// Connection errors are the container's fault, not the probe's: a
		// plain failure whose message is the client error.
		return vFailure, err.Error(), nil
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return vFailure, err.Error(), nil
	}
	if res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusBadRequest {
		if res.StatusCode >= http.StatusMultipleChoices {
			return vWarning, fmt.Sprintf("Probe terminated redirects, Response body: %v", string(body)), nil
		}
		return vSuccess, string(body), nil
	}
	return vFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

func (c *checker) doTCP(ctx context.Context, t *v1.TCPSocketAction, container *v1.Container, st *v1.PodStatus, timeout time.Duration) (verdict, string, error) {
	host := t.Host
	if host == "" {
		host = podIP(st)
	}
	port, err := resolvePort(t.Port, container)
	if err != nil {
		return vFailure, "", err
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := c.dial(dctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return vFailure, err.Error(), nil
	}
	_ = conn.Close()
	return vSuccess, "", nil
}

func (c *checker) doGRPC(ctx context.Context, g *v1.GRPCAction, st *v1.PodStatus, timeout time.Duration) (verdict, string, error) {
	addr := net.JoinHostPort(podIP(st), strconv.Itoa(int(g.Port)))
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithUserAgent(c.userAgent),
		// The health protocol has no TLS option in the probe API.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return c.dial(ctx, "tcp", a)
		}),
	)
	if err != nil {
		return vFailure, fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err), nil
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		if ctx.Err() != nil {
			return vFailure, "", ctx.Err()
		}
		if s, ok := status.FromError(err); ok {
			switch s.Code() {
			case codes.Unimplemented:
				return vFailure, fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", s.Message()), nil
			case codes.DeadlineExceeded:
				return vFailure, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), nil
			case codes.Unavailable:
				// NewClient connects lazily, so a refused connection shows up
				// here rather than at dial time as in older clients.
				return vFailure, fmt.Sprintf("error: failed to connect service at %q: %s", addr, s.Message()), nil
			}
		}
		return vFailure, fmt.Sprintf("error: health rpc probe failed: %+v", err), nil
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return vFailure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String()), nil
	}
	return vSuccess, "service healthy", nil
}
