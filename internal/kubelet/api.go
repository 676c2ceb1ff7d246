package kubelet

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-dev/skiff/internal/kubelet/server"
	"github.com/skiff-dev/skiff/internal/runtime"
)

// Log rotation, upstream's defaults (containerLogMaxSize 10Mi, containerLogMaxFiles 5).
const (
	logMaxSize   = 10 << 20
	logMaxFiles  = 5
	logCheckFreq = 10 * time.Second
)

// apiPods is the agent as the kubelet API server asks it which containers and sandboxes a pod
// has.
type apiPods struct{ k *Kubelet }

var _ server.Pods = apiPods{}

// pod is the pod as the runtime knows it: for a mirror pod, the static pod it stands for.
func (a apiPods) pod(namespace, name string) (*v1.Pod, error) {
	if sp, ok := a.k.static.byFullName(namespace, name); ok {
		return sp, nil
	}
	if a.k.lister == nil {
		return nil, apierrors.NewNotFound(v1.Resource("pods"), name)
	}
	p, err := a.k.lister.Pods(namespace).Get(name)
	if err != nil {
		return nil, apierrors.NewNotFound(v1.Resource("pods"), name)
	}
	return p, nil
}

func (a apiPods) Container(namespace, pod, container string) (server.ContainerRef, error) {
	p, err := a.pod(namespace, pod)
	if err != nil {
		return server.ContainerRef{}, err
	}
	if _, init := specOf(p, container); !init {
		if c, _ := specOf(p, container); c == nil {
			return server.ContainerRef{}, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod))
		}
	}
	pr, err := a.k.podRuntime(context.Background(), p.UID)
	if err != nil {
		return server.ContainerRef{}, err
	}
	ref := server.ContainerRef{PodUID: string(p.UID)}
	l := pr.containers[container]
	if len(l) == 0 {
		return ref, nil
	}
	ref.ID, ref.LogPath = l[0].ID, l[0].LogPath
	switch {
	case l[0].State == runtime.ContainerExited:
		// The current attempt ended: it is also what --previous shows until the next one starts.
		ref.PreviousLogPath = l[0].LogPath
		if len(l) > 1 {
			ref.PreviousLogPath = l[1].LogPath
		}
	case len(l) > 1:
		ref.PreviousLogPath = l[1].LogPath
	}
	return ref, nil
}

func (a apiPods) Sandbox(namespace, pod string) (server.SandboxRef, error) {
	p, err := a.pod(namespace, pod)
	if err != nil {
		return server.SandboxRef{}, err
	}
	pr, err := a.k.podRuntime(context.Background(), p.UID)
	if err != nil {
		return server.SandboxRef{}, err
	}
	if pr.sandbox == nil || pr.sandbox.State != runtime.SandboxReady {
		return server.SandboxRef{}, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a running sandbox", pod))
	}
	return server.SandboxRef{PodUID: string(p.UID), NetNSPath: pr.sandbox.NetNSPath}, nil
}

// listenAPI opens the kubelet API's listener in New, so that the Node advertises the port it
// really got.
func (k *Kubelet) listenAPI() error {
	if k.cfg.ServingCert == nil {
		return nil
	}
	ln := k.cfg.APIListener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(k.cfg.NodeIP.String(), strconv.Itoa(int(k.cfg.KubeletPort))))
		if err != nil {
			return fmt.Errorf("kubelet API: %w", err)
		}
	}
	if _, p, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			k.cfg.KubeletPort = int32(n)
		}
	}
	k.apiListener = ln
	k.closers = append(k.closers, func() error { ln.Close(); return nil }) // Serve closes it too
	return nil
}

func (k *Kubelet) serveAPI(ctx context.Context) {
	if k.apiListener == nil {
		return
	}
	srv := server.New(server.Config{Pods: apiPods{k}, Runtime: k.rt, ClientCA: k.cfg.ClientCA,
		AllowedUsers: k.cfg.APIAllowedUsers, ServingCert: *k.cfg.ServingCert, Logger: k.log})
	k.log.Info("node agent API serving", "addr", k.apiListener.Addr().String())
	if err := srv.Serve(ctx, k.apiListener); err != nil && ctx.Err() == nil {
		k.log.Error("node agent API stopped", "err", err)
	}
}

// rotateLogs rotates the CRI logs of running containers that outgrew logMaxSize.
func (k *Kubelet) rotateLogs(ctx context.Context) {
	r := &server.Rotator{Reopener: k.rt, MaxSize: logMaxSize, MaxFiles: logMaxFiles, Compress: true}
	t := time.NewTicker(logCheckFreq)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cs, err := k.rt.ListContainers(ctx, &runtime.ContainerFilter{State: runtime.ContainerRunning})
		if err != nil {
			continue
		}
		for _, c := range cs {
			if c.LogPath == "" {
				continue
			}
			if _, err := os.Stat(c.LogPath); err != nil {
				continue
			}
			if _, err := r.Rotate(ctx, c.ID, c.LogPath); err != nil {
				k.log.Warn("rotating container log", "container", c.ID, "err", err)
			}
		}
	}
}
