package pvcvolume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/kubelet/localpathdirs"
	"github.com/skiff-dev/skiff/internal/kubelet/volume"
	"github.com/skiff-dev/skiff/internal/localpath"
)

const node = "n1"

// objects is an in-memory Objects with the API's NotFound errors; gets counts the reads.
type objects struct {
	claims map[string]*corev1.PersistentVolumeClaim
	pvs    map[string]*corev1.PersistentVolume
	gets   int
}

func (o *objects) GetClaim(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	o.gets++
	if c, ok := o.claims[ns+"/"+name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "persistentvolumeclaims"}, name)
}

func (o *objects) GetVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	o.gets++
	if p, ok := o.pvs[name]; ok {
		return p, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "persistentvolumes"}, name)
}

func boundClaim(name, pv string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: pv},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
	}
}

func pvFor(name, claim string, src corev1.PersistentVolumeSource) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: src,
			ClaimRef: &corev1.ObjectReference{Namespace: "ns", Name: claim, UID: types.UID("uid-" + claim)}},
	}
}

func podWith(claim string, readOnly bool) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: types.UID("pod-" + claim)},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly}}}}},
	}
}

func TestSetUp(t *testing.T) {
	tmp := t.TempDir()
	dirs, err := localpathdirs.NewDirs(filepath.Join(tmp, "storage", "local-path"))
	if err != nil {
		t.Fatal(err)
	}
	root := dirs.Root()
	handmade := filepath.Join(tmp, "handmade")
	if err := os.Mkdir(handmade, 0o755); err != nil {
		t.Fatal(err)
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	block := corev1.PersistentVolumeBlock
	local := func(p string) corev1.PersistentVolumeSource {
		return corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: p}}
	}
	labelled := func(pv *corev1.PersistentVolume, n string) *corev1.PersistentVolume {
		pv.Labels = map[string]string{localpath.NodeLabel: n}
		return pv
	}
	now := metav1.Now()
	pending := boundClaim("pending", "")
	pending.Status.Phase = corev1.ClaimPending
	deleting := boundClaim("deleting", "pv-x")
	deleting.DeletionTimestamp = &now
	blockPV := pvFor("pv-block", "block", local(handmade))
	blockPV.Spec.VolumeMode = &block
	otherClaimPV := pvFor("pv-stolen", "someone-else", local(handmade))

	o := &objects{
		claims: map[string]*corev1.PersistentVolumeClaim{
			"ns/pending":   pending,
			"ns/deleting":  deleting,
			"ns/lp":        boundClaim("lp", "pvc-lp"),
			"ns/elsewhere": boundClaim("elsewhere", "pvc-elsewhere"),
			"ns/hand":      boundClaim("hand", "pv-hand"),
			"ns/handgone":  boundClaim("handgone", "pv-handgone"),
			"ns/hp":        boundClaim("hp", "pv-hp"),
			"ns/nopv":      boundClaim("nopv", "pv-missing"),
			"ns/stolen":    boundClaim("stolen", "pv-stolen"),
			"ns/block":     boundClaim("block", "pv-block"),
			"ns/nfs":       boundClaim("nfs", "pv-nfs"),
		},
		pvs: map[string]*corev1.PersistentVolume{
			"pvc-lp":        labelled(pvFor("pvc-lp", "lp", local(root+"/pvc-lp_ns_lp")), node),
			"pvc-elsewhere": labelled(pvFor("pvc-elsewhere", "elsewhere", local(root+"/pvc-elsewhere_ns_elsewhere")), "n2"),
			"pv-hand":       pvFor("pv-hand", "hand", local(handmade)),
			"pv-handgone":   pvFor("pv-handgone", "handgone", local(filepath.Join(tmp, "absent"))),
			"pv-hp": pvFor("pv-hp", "hp", corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: filepath.Join(tmp, "hp"), Type: &dirOrCreate}}),
			"pv-stolen": otherClaimPV,
			"pv-block":  blockPV,
			"pv-nfs":    pvFor("pv-nfs", "nfs", corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}}),
		},
	}
	p, err := New(Config{Objects: o, NodeName: node, Dirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		claim     string
		wantPath  string
		wantClaim string // a ClaimError with this cause: the pod waits
		wantErr   string // another error
	}{
		{claim: "absent", wantClaim: `persistentvolumeclaim "absent" not found`},
		{claim: "pending", wantClaim: "PVC is not bound"},
		{claim: "deleting", wantClaim: "PVC is being deleted"},
		{claim: "nopv", wantClaim: `persistentvolume "pv-missing" not found`},
		{claim: "stolen", wantClaim: "is not bound to this claim"},
		{claim: "lp", wantPath: root + "/pvc-lp_ns_lp"},
		{claim: "elsewhere", wantErr: "lives on node n2"},
		{claim: "hand", wantPath: handmade},
		{claim: "handgone", wantErr: "does not exist"},
		{claim: "hp", wantPath: filepath.Join(tmp, "hp")},
		{claim: "block", wantErr: "block volumes are not supported"},
		{claim: "nfs", wantErr: "not supported by this node"},
	} {
		t.Run(tt.claim, func(t *testing.T) {
			pod := podWith(tt.claim, false)
			dir := filepath.Join(tmp, "pods", string(pod.UID), "data")
			if err := os.MkdirAll(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			got, err := p.SetUp(context.Background(), pod, &pod.Spec.Volumes[0], dir)
			ces := ClaimErrors(fmt.Errorf("volume %q: %w", "data", errors.Join(err)))
			switch {
			case tt.wantClaim != "":
				if len(ces) != 1 || !strings.Contains(ces[0].Error(), tt.wantClaim) || ces[0].Volume != "data" ||
					!strings.HasPrefix(ces[0].Error(), "error processing PVC ns/"+tt.claim+": ") {
					t.Fatalf("err = %v, want a ClaimError %q", err, tt.wantClaim)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || len(ces) != 0 {
					t.Fatalf("err = %v, want %q (not a ClaimError)", err, tt.wantErr)
				}
			default:
				if err != nil || got != tt.wantPath {
					t.Fatalf("SetUp = %q, %v; want %q", got, err, tt.wantPath)
				}
				if info, err := os.Stat(got); err != nil || !info.IsDir() {
					t.Errorf("volume directory not there: %v", err)
				}
			}
		})
	}
}

// TestRecordedResolution: once set up, a volume is served from its record (no API reads, even
// if the claim is gone from the API meanwhile) until TearDown forgets it; data is never touched.
func TestRecordedResolution(t *testing.T) {
	tmp := t.TempDir()
	dirs, err := localpathdirs.NewDirs(filepath.Join(tmp, "lp"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dirs.Root(), "pvc-a_ns_a")
	pv := pvFor("pvc-a", "a", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}})
	pv.Labels = map[string]string{localpath.NodeLabel: node}
	o := &objects{claims: map[string]*corev1.PersistentVolumeClaim{"ns/a": boundClaim("a", "pvc-a")},
		pvs: map[string]*corev1.PersistentVolume{"pvc-a": pv}}
	p, err := New(Config{Objects: o, NodeName: node, Dirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	pod := podWith("a", false)
	dir := filepath.Join(tmp, "pod", "data")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, err := p.SetUp(ctx, pod, &pod.Spec.Volumes[0], dir); err != nil || got != path {
		t.Fatalf("SetUp = %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(path, "f"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	reads := o.gets
	delete(o.claims, "ns/a")
	for range 3 {
		if got, err := p.SetUp(ctx, pod, &pod.Spec.Volumes[0], dir); err != nil || got != path {
			t.Fatalf("repeated SetUp = %q, %v", got, err)
		}
	}
	if o.gets != reads {
		t.Errorf("repeated SetUp read the API %d times", o.gets-reads)
	}
	if err := p.TearDown(ctx, pod.UID, "data", dir); err != nil {
		t.Fatal(err)
	}
	if err := p.TearDown(ctx, pod.UID, "data", dir); err != nil {
		t.Fatalf("second TearDown: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(path, "f")); err != nil || string(b) != "kept" {
		t.Errorf("data after TearDown: %q %v", b, err)
	}
	if _, err := p.SetUp(ctx, pod, &pod.Spec.Volumes[0], dir); len(ClaimErrors(err)) != 1 {
		t.Errorf("SetUp after TearDown with the claim gone = %v, want a ClaimError", err)
	}
}

// TestThroughVolumeManager runs the plugin inside the volume manager as the agent does: the
// claim's directory is what containers bind, a readOnly claim mounts read-only, a subPath is
// created inside the PV's directory and pinned, and TearDown leaves the data in place.
func TestThroughVolumeManager(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("pinning a subPath needs root")
	}
	tmp := t.TempDir()
	dirs, err := localpathdirs.NewDirs(filepath.Join(tmp, "data", "storage", "local-path"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dirs.Root(), "pvc-a_ns_a")
	pv := pvFor("pvc-a", "a", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}})
	pv.Labels = map[string]string{localpath.NodeLabel: node}
	o := &objects{claims: map[string]*corev1.PersistentVolumeClaim{"ns/a": boundClaim("a", "pvc-a")},
		pvs: map[string]*corev1.PersistentVolume{"pvc-a": pv}}
	p, err := New(Config{Objects: o, NodeName: node, Dirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	m, err := volume.New(volume.Config{DataDir: filepath.Join(tmp, "data"), Plugins: []volume.Plugin{p}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ro := range []bool{false, true} {
		pod := podWith("a", ro)
		pod.UID = types.UID(fmt.Sprintf("pod-ro-%v", ro))
		paths, err := m.SetUp(ctx, pod)
		if err != nil {
			t.Fatal(err)
		}
		if paths["data"] != path {
			t.Fatalf("path %q, want %q", paths["data"], path)
		}
		c := &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{
			{Name: "data", MountPath: "/data"}, {Name: "data", MountPath: "/sub", SubPath: "web-0/logs"}}}
		mounts, err := m.ContainerMounts(pod, c, paths, nil)
		if err != nil {
			t.Fatal(err)
		}
		if mounts[0].Source != path || mounts[0].ReadOnly != ro {
			t.Errorf("ro=%v: whole-volume mount %+v", ro, mounts[0])
		}
		if !strings.HasPrefix(mounts[1].Source, m.PodDir(pod.UID)) || mounts[1].ReadOnly != ro {
			t.Errorf("ro=%v: subPath mount %+v, want pinned below the pod dir", ro, mounts[1])
		}
		if info, err := os.Stat(filepath.Join(path, "web-0", "logs")); err != nil || !info.IsDir() {
			t.Errorf("subPath not created inside the volume: %v", err)
		}
		if err := m.TearDown(ctx, pod.UID); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(m.PodDir(pod.UID)); !os.IsNotExist(err) {
			t.Errorf("pod dir left: %v", err)
		}
		if _, err := os.Stat(filepath.Join(path, "web-0", "logs")); err != nil {
			t.Errorf("TearDown touched the volume's data: %v", err)
		}
	}
}
