package integration

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/pki"
)

// fakeKubelet is a node agent's HTTPS API reduced to what the proxy needs: it records what it was
// asked, answers logs with a fixed text, and echoes bytes after an upgrade.
type fakeKubelet struct {
	srv   *httptest.Server
	mu    sync.Mutex
	paths []string
	users []string
}

func newFakeKubelet(t *testing.T, dataDir string) *fakeKubelet {
	t.Helper()
	ca, err := pki.LoadCA(filepath.Join(dataDir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Issue(pki.CertSpec{CommonName: "node-proxy", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.ServerAuth})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := kp.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	fk := &fakeKubelet{}
	fk.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fk.mu.Lock()
		fk.paths = append(fk.paths, r.URL.RequestURI())
		if len(r.TLS.PeerCertificates) > 0 {
			fk.users = append(fk.users, r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		fk.mu.Unlock()
		if r.Header.Get("Upgrade") == "" {
			io.WriteString(w, "line one\nline two\n")
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", r.Header.Get("Upgrade"))
		line, _ := buf.ReadString('\n')
		io.WriteString(conn, "echo: "+line)
	}))
	fk.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	fk.srv.StartTLS()
	t.Cleanup(fk.srv.Close)
	return fk
}

func TestPodSubresourcesReachTheNodeAgent(t *testing.T) {
	e := newEnv(t)
	fk := newFakeKubelet(t, e.srv.DataDir)
	_, portStr, _ := net.SplitHostPort(fk.srv.Listener.Addr().String())
	var port int32
	fmt.Sscan(portStr, &port)

	nodeName := "proxy-node-" + e.ns
	node, err := e.cs.CoreV1().Nodes().Create(e.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() { e.cs.CoreV1().Nodes().Delete(e.ctx, nodeName, metav1.DeleteOptions{}) })
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	_, err = e.cs.CoreV1().Nodes().UpdateStatus(e.ctx, node, metav1.UpdateOptions{})
	must(t, err)

	mk := func(name string, containers ...string) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: nodeName}}
		for _, c := range containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "busybox:1.36"})
		}
		_, err := e.cs.CoreV1().Pods(e.ns).Create(e.ctx, pod, metav1.CreateOptions{})
		must(t, err)
	}
	mk("one", "app")
	mk("two", "app", "sidecar")

	// Logs: the only container is implied; the options travel to the agent.
	body, err := e.cs.CoreV1().Pods(e.ns).GetLogs("one", &corev1.PodLogOptions{TailLines: ptrTo(int64(5)), Timestamps: true}).DoRaw(e.ctx)
	must(t, err)
	if string(body) != "line one\nline two\n" {
		t.Fatalf("logs: %q", body)
	}
	fk.mu.Lock()
	got, user := fk.paths[len(fk.paths)-1], fk.users[len(fk.users)-1]
	fk.mu.Unlock()
	if !strings.HasPrefix(got, "/containerLogs/"+e.ns+"/one/app?") || !strings.Contains(got, "tailLines=5") || !strings.Contains(got, "timestamps=true") {
		t.Fatalf("agent was asked %q", got)
	}
	if user != pki.KubeletClientCommonName {
		t.Fatalf("agent saw client %q, want the API server's kubelet client", user)
	}
	// Several containers and none named: upstream's 400. (Stream decodes the Status as kubectl
	// logs does; DoRaw would not.)
	_, err = e.cs.CoreV1().Pods(e.ns).GetLogs("two", &corev1.PodLogOptions{}).Stream(e.ctx)
	st := wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
	if !strings.Contains(st.Message, "a container name must be specified for pod two, choose one of: [app sidecar]") {
		t.Fatalf("message: %q", st.Message)
	}
	_, err = e.cs.CoreV1().Pods(e.ns).GetLogs("two", &corev1.PodLogOptions{Container: "nope"}).Stream(e.ctx)
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)

	// exec: an upgraded connection passes bytes both ways.
	cert, err := tls.X509KeyPair(e.cfg.CertData, e.cfg.KeyData)
	must(t, err)
	host := strings.TrimPrefix(e.cfg.Host, "https://")
	conn, err := tls.Dial("tcp", host, &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	must(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/namespaces/%s/pods/two/exec?container=sidecar&command=sh&stdin=true&stdout=true HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", e.ns, host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	must(t, err)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("exec upgrade: %s", resp.Status)
	}
	io.WriteString(conn, "hello\n")
	line, err := br.ReadString('\n')
	must(t, err)
	if line != "echo: hello\n" {
		t.Fatalf("after upgrade read %q", line)
	}
	fk.mu.Lock()
	got = fk.paths[len(fk.paths)-1]
	fk.mu.Unlock()
	if !strings.HasPrefix(got, "/exec/"+e.ns+"/two/sidecar?") || strings.Contains(got, "container=") {
		t.Fatalf("agent was asked %q", got)
	}

	// A pod without a node has nowhere to go.
	_, err = e.cs.CoreV1().Pods(e.ns).Create(e.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unbound"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox:1.36"}}}}, metav1.CreateOptions{})
	must(t, err)
	_, err = e.cs.CoreV1().Pods(e.ns).GetLogs("unbound", &corev1.PodLogOptions{}).Stream(e.ctx)
	wantStatus(t, err, 400, metav1.StatusReasonBadRequest)
}

func ptrTo[T any](v T) *T { return &v }
