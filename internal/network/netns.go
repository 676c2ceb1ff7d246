package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
)

// setSysctl writes a net.* sysctl inside the namespace fd. /proc/sys/net shows the namespace of
// the thread that opens it, so the write happens on a locked thread switched into that namespace
// and back; netlink cannot set these per-device knobs through the library we use.
func setSysctl(fd netns.NsHandle, key, value string) error {
	if !strings.HasPrefix(key, "net.") || strings.Contains(key, "..") || strings.Contains(key, "/") {
		return fmt.Errorf("sysctl %q is not a per-namespace net.* key", key)
	}
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	err := InNamespace(fd, func() error { return os.WriteFile(path, []byte(value), 0o644) })
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// InNamespace runs fn on a locked OS thread switched into the network namespace target, then
// switches the thread back. Sockets fn opens stay in target; goroutines fn starts do not run in it.
// If the thread cannot be switched back it stays locked, so the runtime ends it with the goroutine
// instead of handing a thread in the wrong namespace to other code.
func InNamespace(target netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("restore network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// DialContextIn returns a dial function whose sockets are made in the network namespace at
// nsPath ("" is the caller's own, where it dials plainly). A node agent put in a namespace of
// its own reaches its pods' addresses only from there: probes and HTTP hooks dial through it.
func DialContextIn(nsPath string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if nsPath == "" {
		return d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		target, err := netns.GetFromPath(nsPath)
		if err != nil {
			return nil, fmt.Errorf("node network namespace: %w", err)
		}
		defer target.Close()
		var c net.Conn
		err = InNamespace(target, func() error {
			var derr error
			c, derr = d.DialContext(ctx, network, addr)
			return derr
		})
		if err != nil && c != nil {
			c.Close() // dialled, but the thread could not leave the namespace
			c = nil
		}
		return c, err
	}
}
