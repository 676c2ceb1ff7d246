package runtimetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/runtime"
)

// BusyboxPath is where Debian's busybox-static puts its binary (scripts/install-test-deps.sh
// installs it).
const BusyboxPath = "/bin/busybox"

// BusyboxImage is the image name the Rootfs of BusyboxRootfs answers to.
const BusyboxImage = "busybox:test"

// Rootfs is a RootfsSource of one image made of prepared directories, for tests of real runtimes.
type Rootfs struct {
	Name   string
	Lowers []string
	Config runtime.ImageConfig
}

func (r *Rootfs) Mounts(image string) ([]string, runtime.ImageConfig, error) {
	if image != r.Name {
		return nil, runtime.ImageConfig{}, fmt.Errorf("image %q: %w", image, runtime.ErrNotFound)
	}
	return r.Lowers, r.Config, nil
}

// BusyboxRootfs builds a one-layer image from the host's static busybox with its applet links
// under a temporary directory, or skips the test when busybox-static is not installed.
func BusyboxRootfs(tb testing.TB) *Rootfs {
	tb.Helper()
	if _, err := os.Stat(BusyboxPath); err != nil {
		tb.Skipf("%s missing (install busybox-static: scripts/install-test-deps.sh)", BusyboxPath)
	}
	dir := tb.TempDir()
	if err := MakeBusyboxLayer(dir); err != nil {
		tb.Fatal(err)
	}
	return &Rootfs{Name: BusyboxImage, Lowers: []string{dir}, Config: runtime.ImageConfig{
		Cmd: []string{"sh"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, ID: "sha256:busybox-test",
	}}
}

// MakeBusyboxLayer writes a busybox root filesystem into dir.
func MakeBusyboxLayer(dir string) error {
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	b, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), b, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		p := filepath.Join(dir, applet)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink("/bin/busybox", p); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), 0o644)
}
