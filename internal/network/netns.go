package network

import (
	"errors"
	"fmt"
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
		if err := netns.Set(fd); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		werr := os.WriteFile(path, []byte(value), 0o644)
		if err := netns.Set(orig); err != nil {
			// Leaving the thread locked makes the runtime end it with this goroutine instead of
			// handing a thread in the pod's namespace to other code.
			errc <- errors.Join(werr, fmt.Errorf("restore namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- werr
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}
