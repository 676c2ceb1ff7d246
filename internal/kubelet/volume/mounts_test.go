package volume

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestExpandVars(t *testing.T) {
	env := map[string]string{"POD": "web-0", "NS": "prod", "EMPTY": ""}
	for _, tt := range []struct{ in, want string }{
		{"$(POD)", "web-0"},
		{"logs/$(NS)/$(POD)", "logs/prod/web-0"},
		{"$(MISSING)/x", "$(MISSING)/x"},
		{"$$(POD)", "$(POD)"},
		{"a$$b", "a$b"},
		{"$(EMPTY)x", "x"},
		{"$(POD", "$(POD"},
		{"cost$", "cost$"},
		{"$x", "$x"},
	} {
		if got := expandVars(tt.in, env); got != tt.want {
			t.Errorf("expandVars(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestContainerMountsOptions(t *testing.T) {
	m := newManager(t, nil)
	pod := testPod("mounts",
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		corev1.Volume{Name: "claim", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}},
		corev1.Volume{Name: "roclaim", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c", ReadOnly: true}}},
	)
	paths := map[string]string{"scratch": "/host/scratch", "cfg": "/host/cfg", "claim": "/host/pv", "roclaim": "/host/pv"}
	priv := &corev1.SecurityContext{Privileged: ptr(true)}
	for _, tt := range []struct {
		name    string
		vm      corev1.VolumeMount
		sc      *corev1.SecurityContext
		want    string
		wantErr string
	}{
		{name: "default", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/s"},
			want: "/host/scratch:/s:[rbind rw rprivate]"},
		{name: "readOnly", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/s", ReadOnly: true},
			want: "/host/scratch:/s:[rbind ro rprivate]"},
		{name: "configMap forced read-only", vm: corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app"},
			want: "/host/cfg:/etc/app:[rbind ro rprivate]"},
		{name: "claim writable", vm: corev1.VolumeMount{Name: "claim", MountPath: "/d"},
			want: "/host/pv:/d:[rbind rw rprivate]"},
		{name: "claim referenced readOnly", vm: corev1.VolumeMount{Name: "roclaim", MountPath: "/d"},
			want: "/host/pv:/d:[rbind ro rprivate]"},
		{name: "HostToContainer", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/s", MountPropagation: ptr(corev1.MountPropagationHostToContainer)},
			want: "/host/scratch:/s:[rbind rw rslave]"},
		{name: "Bidirectional privileged", sc: priv, vm: corev1.VolumeMount{Name: "scratch", MountPath: "/s", MountPropagation: ptr(corev1.MountPropagationBidirectional)},
			want: "/host/scratch:/s:[rbind rw rshared]"},
		{name: "Bidirectional unprivileged", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/s", MountPropagation: ptr(corev1.MountPropagationBidirectional)},
			wantErr: "Bidirectional mount propagation is available only to privileged containers"},
		{name: "unknown volume", vm: corev1.VolumeMount{Name: "nope", MountPath: "/s"}, wantErr: "no volume of that name"},
		{name: "subPath and subPathExpr", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/s", SubPath: "a", SubPathExpr: "b"}, wantErr: "mutually exclusive"},
		{name: "recursiveReadOnly Enabled", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/s", ReadOnly: true, RecursiveReadOnly: ptr(corev1.RecursiveReadOnlyEnabled)}, wantErr: "not supported"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &corev1.Container{Name: "c1", SecurityContext: tt.sc, VolumeMounts: []corev1.VolumeMount{tt.vm}}
			got, err := m.ContainerMounts(pod, c, paths, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d mounts", len(got))
			}
			if s := fmt.Sprintf("%s:%s:%v", got[0].Source, got[0].Destination, got[0].Options); s != tt.want {
				t.Errorf("mount %s, want %s", s, tt.want)
			}
			if got[0].ReadOnly != strings.Contains(tt.want, " ro ") {
				t.Errorf("ReadOnly = %v disagrees with options %v", got[0].ReadOnly, got[0].Options)
			}
		})
	}
}

// TestSubPathEscapeRefused builds a volume holding hostile symlinks; every way out must be
// refused before anything is mounted.
func TestSubPathEscapeRefused(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "vol")
	outside := filepath.Join(base, "secret")
	for _, d := range []string{root, outside, filepath.Join(root, "dir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"abs":         outside,
		"up":          "../secret",
		"dir/upup":    "../../secret",
		"chain":       "dir/upup",
		"loop":        "loop",
		"ok":          "dir",
		"dir/sibling": "../dir",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		sub     string
		wantErr string
		want    string // path (below root) the descriptor must name
	}{
		{sub: "/etc", wantErr: "must be a relative path"},
		{sub: "../secret", wantErr: "must not contain '..'"},
		{sub: "dir/../../secret", wantErr: "must not contain '..'"},
		{sub: "abs", wantErr: "escapes its volume"},
		{sub: "abs/x", wantErr: "escapes its volume"},
		{sub: "up", wantErr: "escapes its volume"},
		{sub: "dir/upup", wantErr: "escapes its volume"},
		{sub: "chain", wantErr: "escapes its volume"},
		{sub: "loop", wantErr: "too many levels"},
		{sub: "file/x", wantErr: "not a directory"},
		{sub: "ok", want: "dir"},
		{sub: "dir/sibling", want: "dir"},
		{sub: "file", want: "file"},
		{sub: "new/deeper", want: "new/deeper"},
	} {
		t.Run(tt.sub, func(t *testing.T) {
			f, err := openInVolume(root, tt.sub)
			if tt.wantErr != "" {
				if err == nil {
					f.Close()
					t.Fatalf("subPath %q accepted", tt.sub)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, tt.want); got != want {
				t.Errorf("resolved to %s, want %s", got, want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); !os.IsNotExist(err) {
		t.Errorf("something was created outside the volume: %v", err)
	}
	info, err := os.Stat(filepath.Join(root, "new/deeper"))
	if err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("created subPath: %v %v, want mode of the volume (0755)", info, err)
	}
}

// TestSubPathPinned mounts a subPath of an emptyDir and a subPathExpr, then swaps the subPath
// directory for a symlink to the host: the pinned source must still show the original.
func TestSubPathPinned(t *testing.T) {
	needRoot(t)
	m := newManager(t, nil)
	pod := testPod("subpath", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	c := &corev1.Container{Name: "app", VolumeMounts: []corev1.VolumeMount{
		{Name: "data", MountPath: "/conf", SubPath: "conf"},
		{Name: "data", MountPath: "/logs", SubPathExpr: "logs/$(POD_NAME)"},
	}}
	paths, err := m.SetUp(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	vol := paths["data"]
	if err := os.MkdirAll(filepath.Join(vol, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "conf", "app.ini"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts, err := m.ContainerMounts(pod, c, paths, map[string]string{"POD_NAME": "web-0"})
	if err != nil {
		t.Fatal(err)
	}
	wantSrc := []string{
		filepath.Join(m.PodDir(pod.UID), "volume-subpaths", "data", "app", "0"),
		filepath.Join(m.PodDir(pod.UID), "volume-subpaths", "data", "app", "1"),
	}
	for i, mt := range mounts {
		if mt.Source != wantSrc[i] {
			t.Errorf("mount %d source %s, want %s", i, mt.Source, wantSrc[i])
		}
	}
	if info, err := os.Stat(filepath.Join(vol, "logs", "web-0")); err != nil || !info.IsDir() {
		t.Errorf("subPathExpr directory not created: %v", err)
	}
	// The pod replaces its subPath with a symlink to the host's root.
	if err := os.Rename(filepath.Join(vol, "conf"), filepath.Join(vol, "conf.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(vol, "conf")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(mounts[0].Source, "app.ini")); got != "ok" {
		t.Errorf("pinned subPath shows %q", got)
	}
	// Resolving again now refuses the escape instead of pinning the host.
	if _, err := m.ContainerMounts(pod, c, paths, map[string]string{"POD_NAME": "web-0"}); err == nil || !strings.Contains(err.Error(), "escapes") {
		t.Errorf("second resolution: %v, want refused", err)
	}
}
