package localpathdirs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiff-dev/skiff/internal/localpath"
)

const node = "n1"

func newDirs(t *testing.T) *Dirs {
	t.Helper()
	d, err := NewDirs(filepath.Join(t.TempDir(), "storage", "local-path"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func localPV(name, path string, mut ...func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{localpath.NodeLabel: node},
			Finalizers: []string{FinalizerPVProtection, localpath.CleanupFinalizer}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
		},
	}
	for _, m := range mut {
		m(pv)
	}
	return pv
}

func TestOwns(t *testing.T) {
	d := newDirs(t)
	root := d.Root()
	for _, tt := range []struct {
		name    string
		pv      *corev1.PersistentVolume
		wantOK  bool
		wantErr string
	}{
		{name: "ours", pv: localPV("a", root+"/pvc-1_ns_c"), wantOK: true},
		{name: "other node", pv: localPV("b", root+"/pvc-1_ns_c", func(p *corev1.PersistentVolume) { p.Labels[localpath.NodeLabel] = "n2" })},
		{name: "unlabelled", pv: localPV("c", root+"/x", func(p *corev1.PersistentVolume) { p.Labels = nil })},
		{name: "hostPath with our label", pv: localPV("d", "", func(p *corev1.PersistentVolume) {
			p.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}
		}), wantErr: "not a local volume"},
		{name: "outside the root", pv: localPV("e", "/etc"), wantErr: "not directly under"},
		{name: "the root itself", pv: localPV("f", root), wantErr: "not directly under"},
		{name: "nested below the root", pv: localPV("g", root+"/a/b"), wantErr: "not directly under"},
		{name: "backstep", pv: localPV("h", root+"/../local-path/x"), wantErr: "not a clean absolute path"},
		{name: "relative", pv: localPV("i", "pvc-1"), wantErr: "not a clean absolute path"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, ok, err := d.Owns(tt.pv, node)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || ok != tt.wantOK {
				t.Fatalf("Owns = %q, %v, %v; want ok=%v", dir, ok, err, tt.wantOK)
			}
			if ok && dir != tt.pv.Spec.Local.Path {
				t.Errorf("dir %q", dir)
			}
		})
	}
}

func TestEnsureAndRemove(t *testing.T) {
	d := newDirs(t)
	dir := filepath.Join(d.Root(), "pvc-1_ns_c")
	if err := d.Ensure(dir); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() || info.Mode().Perm() != 0o777 {
		t.Fatalf("after Ensure: %v %v", info, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Ensure again keeps the contents.
	if err := d.Ensure(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Fatalf("Ensure lost the contents: %v", err)
	}
	file := filepath.Join(d.Root(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Ensure(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Ensure(file) = %v", err)
	}
	for _, bad := range []string{"/etc", d.Root(), filepath.Join(d.Root(), "a", "b")} {
		if err := d.Ensure(bad); err == nil {
			t.Errorf("Ensure(%s) accepted", bad)
		}
		if err := d.Remove(bad); err == nil {
			t.Errorf("Remove(%s) accepted", bad)
		}
	}
	if err := d.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("directory still there: %v", err)
	}
	if err := d.Remove(dir); err != nil {
		t.Errorf("Remove of a missing directory: %v", err)
	}
}

func TestCleanupFor(t *testing.T) {
	now := metav1.Now()
	deleting := func(p *corev1.PersistentVolume) { p.DeletionTimestamp = &now }
	unprotected := func(p *corev1.PersistentVolume) { p.Finalizers = []string{localpath.CleanupFinalizer} }
	for _, tt := range []struct {
		name string
		pv   *corev1.PersistentVolume
		want cleanupState
	}{
		{"live", localPV("a", "/x"), cleanupNotDeleting},
		{"deleting, still protected", localPV("a", "/x", deleting), cleanupWait},
		{"deleting, Bound", localPV("a", "/x", deleting, unprotected, func(p *corev1.PersistentVolume) { p.Status.Phase = corev1.VolumeBound }), cleanupWait},
		{"deleting, Delete", localPV("a", "/x", deleting, unprotected, func(p *corev1.PersistentVolume) { p.Status.Phase = corev1.VolumeReleased }), cleanupRemove},
		{"deleting, Retain", localPV("a", "/x", deleting, unprotected, func(p *corev1.PersistentVolume) {
			p.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		}), cleanupKeep},
		{"deleting, finalizer gone", localPV("a", "/x", deleting, func(p *corev1.PersistentVolume) { p.Finalizers = nil }), cleanupNothing},
	} {
		if got := cleanupFor(tt.pv); got != tt.want {
			t.Errorf("%s: cleanupFor = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestController drives the controller through a PV's life on a fake API: the directory appears
// with the PV, survives while the PV is protected, and goes (Delete) or stays (Retain) once it is
// not, the finalizer going in both cases. A PV naming a path outside the root has nothing done on
// disk, and its finalizer is dropped so it does not hang.
func TestController(t *testing.T) {
	d := newDirs(t)
	client := fake.NewClientset()
	c, err := New(Config{Client: client, NodeName: node, Dirs: d})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	pvs := client.CoreV1().PersistentVolumes()
	del := filepath.Join(d.Root(), "pvc-del_ns_a")
	ret := filepath.Join(d.Root(), "pvc-ret_ns_b")
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, pv := range []*corev1.PersistentVolume{
		localPV("pvc-del", del),
		localPV("pvc-ret", ret, func(p *corev1.PersistentVolume) {
			p.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		}),
		localPV("pvc-bad", outside),
	} {
		if _, err := pvs.Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "directories created", func() bool { return isDir(del) && isDir(ret) })

	// Being deleted but still protected: nothing happens.
	now := metav1.Now()
	for _, name := range []string{"pvc-del", "pvc-ret", "pvc-bad"} {
		pv, err := pvs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pv.DeletionTimestamp = &now
		pv.Status.Phase = corev1.VolumeReleased
		if _, err := pvs.Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // a negative check: give a wrong removal its chance
	if !isDir(del) || !isDir(ret) {
		t.Fatal("a directory went while its PV was still protected")
	}
	// Protection removed, as the pv-protection controller does once the PV is not Bound.
	for _, name := range []string{"pvc-del", "pvc-ret", "pvc-bad"} {
		pv, err := pvs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pv.Finalizers = slices.DeleteFunc(pv.Finalizers, func(f string) bool { return f == FinalizerPVProtection })
		if _, err := pvs.Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	finalizerGone := func(name string) bool {
		pv, err := pvs.Get(ctx, name, metav1.GetOptions{})
		return err == nil && !slices.Contains(pv.Finalizers, localpath.CleanupFinalizer)
	}
	waitFor(t, "finalizers dropped", func() bool {
		return finalizerGone("pvc-del") && finalizerGone("pvc-ret") && finalizerGone("pvc-bad")
	})
	if isDir(del) {
		t.Error("Delete volume's directory still there")
	}
	if !isDir(ret) {
		t.Error("Retain volume's directory removed")
	}
	if !isDir(outside) {
		t.Error("a directory outside the root was removed")
	}
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
