package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
)

type volumeCase struct {
	name string
	vol  corev1.VolumeSource
	// root says the case mounts a tmpfs.
	root       bool
	wantPlugin string
	wantFiles  map[string]string
	wantModes  map[string]os.FileMode
	wantErr    string
	wantTmpfs  bool
}

func TestSetUpSources(t *testing.T) {
	src := newFakeSources()
	src.putConfigMap("ns1", "cfg", map[string]string{"a": "alpha", "b": "beta"})
	src.putSecret("ns1", "sec", map[string]string{"user": "admin", "pass": "s3cret"})
	src.configMaps["ns1/bin"] = src.configMaps["ns1/cfg"].DeepCopy()
	src.configMaps["ns1/bin"].Name = "bin"
	src.configMaps["ns1/bin"].BinaryData = map[string][]byte{"blob": {0, 1, 2}}

	tests := []volumeCase{
		{name: "configMap all keys", vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			wantPlugin: PluginConfigMap, wantFiles: map[string]string{"a": "alpha", "b": "beta"},
			wantModes: map[string]os.FileMode{"a": 0o644}},
		{name: "configMap binaryData", vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "bin"}}},
			wantPlugin: PluginConfigMap, wantFiles: map[string]string{"a": "alpha", "b": "beta", "blob": "\x00\x01\x02"}},
		{name: "configMap items and modes", vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr[int32](0o600),
			Items: []corev1.KeyToPath{{Key: "a", Path: "conf/a.txt"}, {Key: "b", Path: "b.txt", Mode: ptr[int32](0o400)}}}},
			wantPlugin: PluginConfigMap, wantFiles: map[string]string{"conf/a.txt": "alpha", "b.txt": "beta"},
			wantModes: map[string]os.FileMode{"conf/a.txt": 0o600, "b.txt": 0o400}},
		{name: "configMap missing", vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}},
			wantErr: `configmap "nope" not found`},
		{name: "configMap missing optional", vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
			wantPlugin: PluginConfigMap, wantFiles: map[string]string{}},
		{name: "configMap missing key", vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "zz", Path: "zz"}}}},
			wantErr: "references non-existent config key: zz"},
		{name: "configMap missing key optional", vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Optional: ptr(true),
			Items: []corev1.KeyToPath{{Key: "zz", Path: "zz"}, {Key: "a", Path: "a"}}}},
			wantPlugin: PluginConfigMap, wantFiles: map[string]string{"a": "alpha"}},
		{name: "secret on tmpfs", root: true, vol: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}},
			wantPlugin: PluginSecret, wantFiles: map[string]string{"user": "admin", "pass": "s3cret"},
			wantModes: map[string]os.FileMode{"user": 0o644}, wantTmpfs: true},
		{name: "secret items", root: true, vol: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec",
			DefaultMode: ptr[int32](0o440), Items: []corev1.KeyToPath{{Key: "pass", Path: "p"}}}},
			wantPlugin: PluginSecret, wantFiles: map[string]string{"p": "s3cret"}, wantModes: map[string]os.FileMode{"p": 0o440}, wantTmpfs: true},
		{name: "secret missing", vol: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "gone"}},
			wantErr: `secret "gone" not found`},
		{name: "secret missing optional", root: true, vol: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "gone", Optional: ptr(true)}},
			wantPlugin: PluginSecret, wantFiles: map[string]string{}, wantTmpfs: true},
		{name: "downwardAPI", root: true, vol: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}, Mode: ptr[int32](0o400)},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c1", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		}}},
			wantPlugin: PluginDownwardAPI, wantFiles: map[string]string{"name": "web", "labels": "app=\"web\"\ntier=\"front\"", "mem": "8192"},
			wantModes: map[string]os.FileMode{"name": 0o644, "labels": 0o400}, wantTmpfs: true},
		{name: "projected", root: true, vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr[int32](0o640), Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a", Path: "cfg/a"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Items: []corev1.KeyToPath{{Key: "user", Path: "sec/user", Mode: ptr[int32](0o400)}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr(true)}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}},
			wantPlugin: PluginProjected, wantFiles: map[string]string{"cfg/a": "alpha", "sec/user": "admin", "ns": "ns1"},
			wantModes: map[string]os.FileMode{"cfg/a": 0o640, "sec/user": 0o400, "ns": 0o640}, wantTmpfs: true},
		{name: "projected missing secret", vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}}}}}},
			wantErr: `secret "absent" not found`},
		{name: "projected serviceAccountToken", vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}},
			wantErr: "serviceAccountToken is not supported yet: bound service account tokens come with the security issue"},
		{name: "persistentVolumeClaim", vol: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}},
			wantErr: "come with the storage issue"},
		{name: "emptyDir hugepages", vol: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumHugePages}},
			wantErr: "not supported"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				needRoot(t)
			}
			m := newManager(t, src)
			pod := testPod(fmt.Sprintf("pod-%d", i), corev1.Volume{Name: "v", VolumeSource: tt.vol})
			pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")}
			paths, err := m.SetUp(context.Background(), pod)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `volume "v"`) {
					t.Fatalf("err = %v, want %q naming the volume", err, tt.wantErr)
				}
				if _, ok := paths["v"]; ok {
					t.Errorf("failed volume returned a path")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(m.PodDir(pod.UID), "volumes", tt.wantPlugin, "v")
			if paths["v"] != want {
				t.Fatalf("path %q, want %q", paths["v"], want)
			}
			files := listFiles(t, want)
			if fmt.Sprint(files) != fmt.Sprint(tt.wantFiles) {
				t.Errorf("files %q, want %q", files, tt.wantFiles)
			}
			for p, mode := range tt.wantModes {
				info, err := os.Stat(filepath.Join(want, p))
				if err != nil {
					t.Fatal(err)
				}
				if info.Mode().Perm() != mode {
					t.Errorf("%s mode %v, want %v", p, info.Mode().Perm(), mode)
				}
			}
			fsType, err := mountedFSType(want)
			if err != nil {
				t.Fatal(err)
			}
			if (fsType == "tmpfs") != tt.wantTmpfs {
				t.Errorf("mounted fs %q, want tmpfs=%v", fsType, tt.wantTmpfs)
			}
			// A second SetUp is a no-op: same path, same generation.
			before, _ := os.Readlink(filepath.Join(want, dataLink))
			if _, err := m.SetUp(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			after, _ := os.Readlink(filepath.Join(want, dataLink))
			if before != after {
				t.Errorf("second SetUp rewrote the volume: %s -> %s", before, after)
			}
			if ms, _ := mountsUnder(want); len(ms) > 1 {
				t.Errorf("second SetUp stacked mounts: %v", ms)
			}
		})
	}
}

func TestMissingSourceErrorIsTyped(t *testing.T) {
	m := newManager(t, newFakeSources())
	pod := testPod("typed", corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}})
	_, err := m.SetUp(context.Background(), pod)
	var missing *MissingSourceError
	if !errors.As(err, &missing) || missing.Kind != "configmap" || missing.Namespace != "ns1" || missing.Name != "cfg" {
		t.Fatalf("err = %#v, want a MissingSourceError for ns1/cfg", err)
	}
}

func TestEmptyDir(t *testing.T) {
	for _, tt := range []struct {
		name      string
		src       *corev1.EmptyDirVolumeSource
		limits    corev1.ResourceList
		root      bool
		wantTmpfs bool
		wantSize  string // as mountinfo shows it, in KiB
	}{
		{name: "disk", src: &corev1.EmptyDirVolumeSource{}},
		{name: "memory sized by sizeLimit", root: true, wantTmpfs: true, wantSize: "size=16384k",
			src: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("16Mi"))}},
		{name: "memory sized by allocatable", root: true, wantTmpfs: true, wantSize: "size=8388608k",
			src: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}},
		{name: "memory sized by pod limit", root: true, wantTmpfs: true, wantSize: "size=32768k",
			limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
			src:    &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("1Gi"))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				needRoot(t)
			}
			m := newManager(t, nil)
			pod := testPod("ed-"+strings.ReplaceAll(tt.name, " ", "-"), corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: tt.src}})
			pod.Spec.Containers[0].Resources.Limits = tt.limits
			paths, err := m.SetUp(context.Background(), pod)
			if err != nil {
				t.Fatal(err)
			}
			dir := paths["scratch"]
			if dir != filepath.Join(m.PodDir(pod.UID), "volumes", PluginEmptyDir, "scratch") {
				t.Errorf("path %s", dir)
			}
			info, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != 0o777 || !info.IsDir() {
				t.Errorf("mode %v, want a 0777 directory", info.Mode())
			}
			if err := os.WriteFile(filepath.Join(dir, "f"), []byte("kept"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := m.SetUp(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(dir, "f")); got != "kept" {
				t.Errorf("second SetUp lost data: %q", got)
			}
			ms, err := mountsUnder(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantTmpfs {
				if len(ms) != 0 {
					t.Errorf("disk emptyDir has mounts %v", ms)
				}
				return
			}
			if len(ms) != 1 || ms[0].FSType != "tmpfs" || !strings.Contains(ms[0].SuperOptions, tt.wantSize) {
				t.Errorf("mounts %+v, want one tmpfs with %s", ms, tt.wantSize)
			}
		})
	}
}

// TestTearDown sets up every mounting kind plus a pinned subPath, then tears the pod down with a
// fresh manager (as after a crash), twice.
func TestTearDown(t *testing.T) {
	needRoot(t)
	src := newFakeSources()
	src.putSecret("ns1", "sec", map[string]string{"k": "v"})
	m := newManager(t, src)
	pod := testPod("teardown",
		corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		corev1.Volume{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
	)
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "disk", MountPath: "/d", SubPath: "sub"}}
	paths, err := m.SetUp(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ContainerMounts(pod, &pod.Spec.Containers[0], paths, nil); err != nil {
		t.Fatal(err)
	}
	podDir := m.PodDir(pod.UID)
	if ms, _ := mountsUnder(podDir); len(ms) != 3 {
		t.Fatalf("mounts before teardown: %+v, want 3", ms)
	}
	uids, err := m.PodUIDs()
	if err != nil || len(uids) != 1 || uids[0] != pod.UID {
		t.Errorf("PodUIDs = %v, %v", uids, err)
	}

	restarted, err := New(Config{DataDir: filepath.Dir(filepath.Dir(podDir))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := restarted.TearDown(context.Background(), pod.UID); err != nil {
			t.Fatalf("teardown %d: %v", i, err)
		}
		ms, err := mountsUnder(podDir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 0 {
			t.Errorf("teardown %d left mounts %+v", i, ms)
		}
		if _, err := os.Lstat(podDir); !os.IsNotExist(err) {
			t.Errorf("teardown %d left %s (%v)", i, podDir, err)
		}
	}
	// An Update racing behind the teardown must not bring anything back.
	if err := m.Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(podDir); !os.IsNotExist(err) {
		t.Errorf("Update after TearDown recreated %s", podDir)
	}
}

// TestUpdateThroughManager changes a configMap under a running reader: reads through the volume
// see each generation whole, the pair stays consistent, and the final content is the newest.
func TestUpdateThroughManager(t *testing.T) {
	src := newFakeSources()
	src.putConfigMap("ns1", "cfg", map[string]string{"left": "gen-000000", "right": "gen-000000", "old": "x"})
	m := newManager(t, src)
	pod := testPod("update", corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}})
	paths, err := m.SetUp(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["cfg"]

	done := make(chan error)
	stop := make(chan struct{})
	go func() {
		var mixes, pairs, fails int
		for {
			select {
			case <-stop:
				switch {
				case mixes > 0:
					done <- fmt.Errorf("%d of %d pair reads mixed generations", mixes, pairs)
				case fails > 0:
					done <- fmt.Errorf("%d reads through the volume failed", fails)
				default:
					done <- nil
				}
				return
			default:
			}
			l, errL := os.ReadFile(filepath.Join(dir, "left"))
			r, errR := os.ReadFile(filepath.Join(dir, "right"))
			if errL != nil || errR != nil || len(l) != 10 || len(r) != 10 {
				fails++
			}
			pairs++
			if err := checkPairFromOneGeneration(dir); err != nil {
				mixes++
			}
		}
	}()
	for i := 1; i <= 100; i++ {
		v := fmt.Sprintf("gen-%06d", i)
		src.putConfigMap("ns1", "cfg", map[string]string{"left": v, "right": v})
		if err := m.Update(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if files := listFiles(t, dir); fmt.Sprint(files) != "map[left:gen-000100 right:gen-000100]" {
		t.Errorf("final files %v", files)
	}
	if _, err := os.Lstat(filepath.Join(dir, "old")); !os.IsNotExist(err) {
		t.Errorf("removed key still visible: %v", err)
	}

	// A source gone for a non-optional volume keeps the last content and reports the error.
	src.deleteConfigMap("ns1", "cfg")
	if err := m.Update(context.Background(), pod); err == nil || !strings.Contains(err.Error(), `configmap "cfg" not found`) {
		t.Errorf("Update with source gone: %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "left")); got != "gen-000100" {
		t.Errorf("content after failed update: %q", got)
	}
}

func checkPairFromOneGeneration(dir string) error {
	gen, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil {
		return nil
	}
	l, errL := os.ReadFile(filepath.Join(dir, gen, "left"))
	r, errR := os.ReadFile(filepath.Join(dir, gen, "right"))
	if errL != nil || errR != nil {
		return nil // generation retired and removed under us: retry, never a mix
	}
	if string(l) != string(r) {
		return fmt.Errorf("left %q right %q", l, r)
	}
	return nil
}

func TestUpdateDownwardAPIFollowsPod(t *testing.T) {
	needRoot(t)
	m := newManager(t, nil)
	pod := testPod("dapi", corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}})
	paths, err := m.SetUp(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	pod.Labels = map[string]string{"app": "web2"}
	if err := m.Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(paths["info"], "labels")); got != `app="web2"` {
		t.Errorf("labels after update = %q", got)
	}
}

// fakePlugin stands in for the storage issue's persistentVolumeClaim plugin.
type fakePlugin struct{ setUps, tearDowns []string }

func (p *fakePlugin) Name() string                  { return "skiff.dev~fake" }
func (p *fakePlugin) Handles(v *corev1.Volume) bool { return v.PersistentVolumeClaim != nil }
func (p *fakePlugin) SetUp(_ context.Context, _ *corev1.Pod, v *corev1.Volume, dir string) (string, error) {
	p.setUps = append(p.setUps, v.Name)
	return dir, nil
}
func (p *fakePlugin) TearDown(_ context.Context, _ types.UID, name, _ string) error {
	p.tearDowns = append(p.tearDowns, name)
	return nil
}

func TestPlugin(t *testing.T) {
	p := &fakePlugin{}
	m := newManager(t, nil, p)
	pod := testPod("plugin", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}})
	paths, err := m.SetUp(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	if paths["data"] != filepath.Join(m.PodDir(pod.UID), "volumes", "skiff.dev~fake", "data") {
		t.Errorf("path %q", paths["data"])
	}
	if err := m.TearDown(context.Background(), pod.UID); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.setUps, p.tearDowns) != "[data] [data]" {
		t.Errorf("plugin calls: setUp %v tearDown %v", p.setUps, p.tearDowns)
	}
}

func TestInvalidNames(t *testing.T) {
	m := newManager(t, nil)
	for _, pod := range []*corev1.Pod{
		testPod("../escape"),
		testPod("ok", corev1.Volume{Name: "../x", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
	} {
		if _, err := m.SetUp(context.Background(), pod); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("SetUp(%s) = %v, want refused", pod.UID, err)
		}
	}
	if err := m.TearDown(context.Background(), ".."); err == nil {
		t.Error("TearDown(..) accepted")
	}
}
