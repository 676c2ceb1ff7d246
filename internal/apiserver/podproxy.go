package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apiserver/storage"
)

// KubeletClient is how the API server reaches node agents for pods/log, exec, attach and
// portforward: HTTPS with its own client certificate, verifying the agents' serving certificates
// against the cluster CA.
type KubeletClient struct {
	Cert tls.Certificate
	CA   *x509.CertPool
	// Dial, when set, opens the connections to node agents (nil: a plain TCP dial from this
	// process). It is where an embedder routes the API server to nodes it cannot reach directly,
	// e.g. test nodes living in network namespaces of their own.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// defaultKubeletPort is where a node agent serves when its Node does not say (upstream's 10250).
const defaultKubeletPort = 10250

// podConnectSubresources are the pod subresources served by the pod's node agent.
var podConnectSubresources = map[string]bool{"log": true, "exec": true, "attach": true, "portforward": true}

// handlePodConnect proxies pods/log, pods/exec, pods/attach and pods/portforward to the node agent
// running the pod. Upgrades (SPDY and WebSocket, as kubectl negotiates) pass through untouched.
func (s *Server) handlePodConnect(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo) error {
	podGR := schema.GroupResource{Resource: "pods"}
	if ep.res.GroupResource() != podGR {
		return apierrors.NewNotFound(ep.res.GroupResource(), info.Name)
	}
	if info.Subresource == "log" && r.Method != http.MethodGet {
		return apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/log"}, r.Method)
	}
	if info.Subresource != "log" && r.Method != http.MethodGet && r.Method != http.MethodPost {
		return apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/" + info.Subresource}, r.Method)
	}
	stored, err := ep.store.Get(r.Context(), ep.key(info.Namespace, info.Name), storage.ReadOptions{})
	if err != nil {
		return storageError(err, podGR, info.Name)
	}
	pod := stored.(*corev1.Pod)
	q := r.URL.Query()
	var path string
	switch info.Subresource {
	case "portforward":
		path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
	default:
		container, err := podContainer(pod, q.Get("container"))
		if err != nil {
			return err
		}
		q.Del("container")
		verb := map[string]string{"log": "containerLogs", "exec": "exec", "attach": "attach"}[info.Subresource]
		path = fmt.Sprintf("/%s/%s/%s/%s", verb, pod.Namespace, pod.Name, container)
	}
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	host, err := s.kubeletAddress(r, pod.Spec.NodeName)
	if err != nil {
		return err
	}
	if s.cfg.KubeletClient == nil {
		return apierrors.NewServiceUnavailable("the API server has no client credentials for node agents")
	}
	target := &url.URL{Scheme: "https", Host: host, Path: path, RawQuery: q.Encode()}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			// The node agent trusts the API server's certificate, not the user's headers.
			pr.Out.Header.Del("Authorization")
		},
		Transport:     s.kubeletTransport(),
		FlushInterval: -1, // stream logs (-f) and exec output as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("error dialing backend: %v", err)))
		},
	}
	proxy.ServeHTTP(w, r)
	return nil
}

// podContainer resolves the container a request names; with none named, a pod's only container or
// the one its kubectl.kubernetes.io/default-container annotation picks.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	var names []string
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			names = append(names, c.Name)
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	if name == "" {
		if d := pod.Annotations["kubectl.kubernetes.io/default-container"]; d != "" {
			name = d
		} else if len(pod.Spec.Containers) == 1 {
			return pod.Spec.Containers[0].Name, nil
		} else {
			var app []string
			for _, c := range pod.Spec.Containers {
				app = append(app, c.Name)
			}
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(app, " ")))
		}
	}
	for _, n := range names {
		if n == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// kubeletAddress finds where a node's agent listens: its InternalIP (else any address) and the port
// of status.daemonEndpoints.
func (s *Server) kubeletAddress(r *http.Request, nodeName string) (string, error) {
	ep := s.endpoints[corev1.SchemeGroupVersion.WithResource("nodes")]
	obj, err := ep.store.Get(r.Context(), ep.key("", nodeName), storage.ReadOptions{RV: "0"})
	if err != nil {
		return "", storageError(err, schema.GroupResource{Resource: "nodes"}, nodeName)
	}
	node := obj.(*corev1.Node)
	var addr string
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && addr == "" {
				addr = a.Address
			}
		}
	}
	if addr == "" {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("node %s has no address", nodeName))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = defaultKubeletPort
	}
	return net.JoinHostPort(addr, strconv.Itoa(port)), nil
}

// kubeletTransport is HTTP/1.1 only: upgrades (exec, attach, port-forward) need a connection of
// their own, which HTTP/2 cannot give.
func (s *Server) kubeletTransport() http.RoundTripper {
	s.kubeletOnce.Do(func() {
		kc := s.cfg.KubeletClient
		dial := kc.Dial
		if dial == nil {
			dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		}
		s.kubeletRT = &http.Transport{
			TLSClientConfig: &tls.Config{
				Certificates: []tls.Certificate{kc.Cert},
				RootCAs:      kc.CA,
				MinVersion:   tls.VersionTLS12,
			},
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
			DialContext:         dial,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     90 * time.Second,
		}
	})
	return s.kubeletRT
}
