package libcontainer

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/runtimetest"
)

func TestSmoke(t *testing.T) {
	img := runtimetest.BusyboxRootfs(t)
	dir := t.TempDir()
	r, err := New(Config{StateDir: dir, Images: img})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sb, err := r.RunPodSandbox(ctx, &runtime.SandboxConfig{Name: "p", Namespace: "d", UID: "u1", CgroupParent: "/skiff-smoke/podu1"})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := r.PodSandboxStatus(ctx, sb)
	t.Logf("%+v", st)
	id, err := r.CreateContainer(ctx, sb, &runtime.ContainerConfig{Name: "c", Image: runtimetest.BusyboxImage, Command: []string{"sh", "-c", "hostname; echo err >&2; ls /; exit 3"}, LogPath: dir + "/c.log"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	t.Log("start", time.Since(t0))
	time.Sleep(500 * time.Millisecond)
	cs, _ := r.ContainerStatus(ctx, id)
	t.Logf("%+v", cs)
	b, _ := os.ReadFile(dir + "/c.log")
	t.Logf("%s", b)
	if err := r.RemovePodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
}
