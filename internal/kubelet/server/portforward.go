package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/skiff-dev/skiff/internal/network"
)

const (
	portForwardProtocol = "portforward.k8s.io"
	// tunneledPortForward is SPDY carried in WebSocket binary messages, which kubectl tries first
	// (proxies that pass WebSocket often mangle SPDY upgrades).
	tunneledPortForward = "SPDY/3.1+" + portForwardProtocol
)

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	ns, pod := r.PathValue("ns"), r.PathValue("pod")
	sb, err := s.cfg.Pods.Sandbox(ns, pod)
	if err != nil {
		writeStatus(w, err)
		return
	}
	handler := make(chan spdyStream, 16)
	var conn httpstream.Connection
	switch {
	case wsstream.IsWebSocketRequestWithTunnelingProtocol(r):
		up := gwebsocket.Upgrader{
			Subprotocols: []string{tunneledPortForward},
			// Only the API server reaches this handler (client certificates): origins mean nothing.
			CheckOrigin: func(*http.Request) bool { return true },
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader answered
		}
		if ws.Subprotocol() != tunneledPortForward {
			ws.Close()
			return
		}
		conn, err = spdy.NewServerConnectionWithPings(portforward.NewTunnelingConnection("kubelet", ws), acceptStreams(handler), 0)
		if err != nil {
			ws.Close()
			return
		}
	case wsstream.IsWebSocketRequest(r):
		s.forwardWebSocket(w, r, sb.NetNSPath, ns+"/"+pod)
		return
	case httpstream.IsUpgradeRequest(r):
		if _, err := httpstream.Handshake(r, w, []string{portForwardProtocol}); err != nil {
			return
		}
		conn = spdy.NewResponseUpgraderWithPings(0).UpgradeResponse(w, r, acceptStreams(handler))
		if conn == nil {
			return
		}
	default:
		writeStatus(w, apierrors.NewBadRequest("port-forward needs an upgrade to "+portForwardProtocol+" over SPDY/3.1 or WebSocket"))
		return
	}
	defer conn.Close()
	s.log.Debug("port-forward", "pod", ns+"/"+pod, "spdyOverWebSocket", wsstream.IsWebSocketRequestWithTunnelingProtocol(r))
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	s.forwardStreams(conn, handler, sb.NetNSPath, ns+"/"+pod)
}

// forwardStreams pairs the client's error and data streams by request ID and forwards each pair
// to its port until the connection closes.
type streamPair struct {
	data, errs spdyStream
	port       uint16
	created    time.Time
}

func (s *Server) forwardStreams(conn httpstream.Connection, streams <-chan spdyStream, netnsPath, pod string) {
	pairs := map[string]*streamPair{}
	sweep := time.NewTicker(s.cfg.StreamCreationTimeout)
	defer sweep.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-conn.CloseChan():
			return
		case <-sweep.C:
			// A pair the client never completed holds streams open for nothing.
			for id, p := range pairs {
				if time.Since(p.created) > s.cfg.StreamCreationTimeout {
					for _, st := range []spdyStream{p.data, p.errs} {
						if st.stream != nil {
							st.stream.Reset()
						}
					}
					delete(pairs, id)
				}
			}
		case st := <-streams:
			h := st.stream.Headers()
			id := h.Get(corev1.PortForwardRequestIDHeader)
			port, err := strconv.ParseUint(h.Get(corev1.PortHeader), 10, 16)
			if err != nil || port == 0 {
				st.stream.Reset()
				continue
			}
			p := pairs[id]
			if p == nil {
				p = &streamPair{port: uint16(port), created: time.Now()}
				pairs[id] = p
			}
			switch h.Get(corev1.StreamType) {
			case corev1.StreamTypeData:
				p.data = st
			case corev1.StreamTypeError:
				p.errs = st
			default:
				st.stream.Reset()
				continue
			}
			if p.data.stream != nil && p.errs.stream != nil {
				delete(pairs, id)
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.forward(conn, p, netnsPath, pod)
				}()
			}
		}
	}
}

// forward copies one pair's data stream to and from the port inside the pod; failures go to the
// error stream, where kubectl prints them.
func (s *Server) forward(conn httpstream.Connection, p *streamPair, netnsPath, pod string) {
	defer conn.RemoveStreams(p.data.stream, p.errs.stream)
	<-p.data.replySent
	<-p.errs.replySent
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	target, err := DialInNetNS(ctx, netnsPath, p.port)
	cancel()
	if err != nil {
		msg := fmt.Sprintf("error forwarding port %d to pod %s: %v", p.port, pod, err)
		io.WriteString(p.errs.stream, msg)
		p.errs.stream.Close()
		p.data.stream.Reset()
		return
	}
	defer target.Close()
	// A connection closed under us must not leave the pod side open (and this goroutine with it).
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-conn.CloseChan():
			target.Close()
		case <-stop:
		}
	}()
	done := make(chan struct{})
	go func() {
		io.Copy(target, p.data.stream)
		if tc, ok := target.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		close(done)
	}()
	if _, err := io.Copy(p.data.stream, target); err != nil {
		s.log.Debug("port-forward copy", "pod", pod, "port", p.port, "err", err)
	}
	p.data.stream.Close()
	// kubectl waits for the error stream's end before it lets go of its local connection: end it
	// now, or a keep-alive client would hold both sides open.
	p.errs.stream.Close()
	select {
	case <-done:
	case <-conn.CloseChan():
	case <-time.After(s.cfg.StreamCreationTimeout):
		p.data.stream.Reset()
	}
}

// DialInNetNS connects to localhost:port inside the network namespace at nsPath ("" is the
// agent's own). The socket is created on a thread switched into the namespace, then the thread
// switches back: a socket keeps the namespace it was made in.
func DialInNetNS(ctx context.Context, nsPath string, port uint16) (net.Conn, error) {
	dial := func() (net.Conn, error) {
		var d net.Dialer
		var firstErr error
		for _, host := range []string{"127.0.0.1", "::1"} {
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
			if err == nil {
				return c, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return nil, firstErr
	}
	if nsPath == "" {
		return dial()
	}
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("pod network namespace: %w", err)
	}
	defer target.Close()
	var c net.Conn
	err = network.InNamespace(target, func() error {
		var derr error
		c, derr = dial()
		return derr
	})
	if err != nil && c != nil {
		c.Close() // dialled, but the thread could not leave the pod's namespace
		c = nil
	}
	return c, err
}

// forwardWebSocket serves the channel protocol of WebSocket port-forward (before kubectl tunneled
// SPDY): the ports come in the query, each gets a data channel (2i) and an error channel (2i+1),
// and the first message on both names the port (uint16, little endian) so that clients can tell
// them apart. One connection carries one TCP connection per port.
func (s *Server) forwardWebSocket(w http.ResponseWriter, r *http.Request, netnsPath, pod string) {
	var ports []uint16
	for _, v := range r.URL.Query()["port"] {
		p, err := strconv.ParseUint(v, 10, 16)
		if err != nil || p == 0 {
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("invalid port %q", v)))
			return
		}
		ports = append(ports, uint16(p))
	}
	if len(ports) == 0 {
		writeStatus(w, apierrors.NewBadRequest("at least one port must be given (port=N)"))
		return
	}
	channels := make([]wsstream.ChannelType, 0, 2*len(ports))
	for range ports {
		channels = append(channels, wsstream.ReadWriteChannel, wsstream.WriteChannel)
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		"":                         {Binary: true, Channels: channels},
		"v4.channel.k8s.io":        {Binary: true, Channels: channels},
		"v4.base64.channel.k8s.io": {Binary: false, Channels: channels},
	})
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	_, chans, err := conn.Open(w, r)
	if err != nil {
		return
	}
	defer conn.Close()
	s.log.Debug("port-forward", "pod", pod, "websocket", true, "tunneled", false, "ports", ports)
	var wg sync.WaitGroup
	for i, port := range ports {
		data, errs := chans[2*i], chans[2*i+1]
		prefix := []byte{byte(port), byte(port >> 8)}
		if _, err := data.Write(prefix); err != nil {
			return
		}
		if _, err := errs.Write(prefix); err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			target, err := DialInNetNS(ctx, netnsPath, port)
			cancel()
			if err != nil {
				fmt.Fprintf(errs, "error forwarding port %d to pod %s: %v", port, pod, err)
				return
			}
			defer target.Close()
			go func() {
				io.Copy(target, data)
				if tc, ok := target.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}()
			io.Copy(data, target)
		}()
	}
	wg.Wait()
}
