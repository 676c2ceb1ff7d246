package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/localpath"
	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testcluster"
	"github.com/skiff-dev/skiff/test/images/testimages"
)

var ctx = context.Background()

// TestStorage runs every check on one two-node cluster (starting one costs more than the checks):
// the StatefulSet first, across a restart of the whole server, then the rest on the restarted
// server, which so shows it carries on.
func TestStorage(t *testing.T) {
	start := time.Now()
	c := testcluster.Start(t, testcluster.Options{
		Nodes:  2,
		Images: []string{testimages.Busybox},
		Server: func(cfg *server.Config) { cfg.DisableScheduler, cfg.DisableControllerManager = false, false },
	})
	t.Logf("2 nodes Ready in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpNodeLogs(t)
		}
	})
	s := &suite{c: c}
	ns := c.Namespace(t, "sts")
	t.Run("StatefulSetClaimsPerOrdinal", func(t *testing.T) { s.statefulSet(t, ns) })
	if t.Failed() {
		return
	}
	// The restart belongs to the whole test: the new server must outlive the subtest.
	c.RestartServer(t)
	// Registered after the restart, so it runs before the end-of-test pod deletion, which a
	// StatefulSet would undo.
	t.Cleanup(func() {
		c.Client.AppsV1().StatefulSets(ns).Delete(ctx, "web", metav1.DeleteOptions{})
	})
	t.Run("StatefulSetAcrossServerRestart", func(t *testing.T) { s.serverRestart(t, ns) })
	t.Run("ReclaimDelete", s.reclaimDelete)
	t.Run("ReclaimRetain", s.reclaimRetain)
	t.Run("MissingClaim", s.missingClaim)
	t.Run("HandMadeHostPathReadOnlySubPath", s.hostPathVolume)
	t.Run("PodsFollowTheirVolumes", s.podsFollowVolumes)
}

type suite struct {
	c *testcluster.Cluster
	// wrote is what each StatefulSet pod wrote, in order, by ordinal.
	wrote map[int][]string
	// nodeOf is the node each StatefulSet ordinal's volume lives on.
	nodeOf map[int]string
}

// stsScript prints what the volume held when the container started, then appends one line of
// its own (hostname and time), then prints that line.
const stsScript = `echo "previous: $(cat /data/log 2>/dev/null | tr '\n' '|')"
line="$(hostname) $(date +%s).$RANDOM"
echo "$line" >> /data/log
echo "wrote: $line"
exec sleep 3600`

func (s *suite) statefulSet(t *testing.T, ns string) {
	c := s.c
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](3),
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: v1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers:                    []v1.Container{withMount(c.Busybox("web", stsScript), "data", "/data", "")},
				},
			},
			VolumeClaimTemplates: []v1.PersistentVolumeClaim{claimSpec("data", nil)},
		},
	}
	if _, err := c.Client.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.wrote, s.nodeOf = map[int][]string{}, map[int]string{}
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		p := c.WaitPod(t, ns, name, "Running and Ready", 2*time.Minute, readyPod)
		line := wroteLine(t, c, ns, name)
		if prev := previousLine(t, c, ns, name); prev != "" {
			t.Errorf("%s found data in its new volume: %q", name, prev)
		}
		s.wrote[i] = []string{line}
		s.nodeOf[i] = p.Spec.NodeName
	}
	for i := range 3 {
		s.checkVolume(t, ns, i)
	}
	out := kubectl(t, c, "get", "pv,pvc,sc", "-n", ns)
	for _, want := range []string{"data-web-0", "data-web-2", "Bound", "local-path (default)", localpath.Provisioner,
		"WaitForFirstConsumer", "RECLAIM POLICY", "ACCESS MODES", "STORAGECLASS", ns + "/data-web-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get pv,pvc,sc lacks %q:\n%s", want, out)
		}
	}
	out = kubectl(t, c, "describe", "pvc", "data-web-0", "-n", ns)
	for _, want := range []string{"Status:", "Bound", "StorageClass:", "local-path", "Events:", "ProvisioningSucceeded",
		"Used By:", "web-0"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe pvc lacks %q:\n%s", want, out)
		}
	}

	// A deleted pod comes back on the node of its volume and reads what it wrote.
	s.recreate(t, ns, 1)
}

// recreate deletes web-i, waits for its successor and checks it read back its own lines.
func (s *suite) recreate(t *testing.T, ns string, i int) {
	c := s.c
	name := fmt.Sprintf("web-%d", i)
	old, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p := c.WaitPod(t, ns, name, "a new pod Running and Ready", 2*time.Minute, func(p *v1.Pod) bool {
		return p.UID != old.UID && readyPod(p)
	})
	if p.Spec.NodeName != s.nodeOf[i] {
		t.Errorf("%s came back on %s, its volume is on %s", name, p.Spec.NodeName, s.nodeOf[i])
	}
	want := strings.Join(s.wrote[i], "|") + "|"
	if got := previousLine(t, c, ns, name); got != want {
		t.Errorf("%s read back %q, wrote %q", name, got, want)
	}
	s.wrote[i] = append(s.wrote[i], wroteLine(t, c, ns, name))
	for j := range 3 {
		s.checkVolume(t, ns, j)
	}
}

// checkVolume checks web-i's volume on the host: under its node's data dir, holding exactly the
// lines web-i wrote (no other pod's).
func (s *suite) checkVolume(t *testing.T, ns string, i int) {
	t.Helper()
	pv, path := volumeOf(t, s.c, ns, fmt.Sprintf("data-web-%d", i))
	node := s.c.Node(s.nodeOf[i])
	if node == nil {
		t.Fatalf("no node %q", s.nodeOf[i])
	}
	if want := filepath.Join(node.DataDir, "storage", "local-path") + "/"; !strings.HasPrefix(path, want) {
		t.Errorf("PV %s path %s is not under its node's root %s", pv.Name, path, want)
	}
	if pv.Labels[localpath.NodeLabel] != node.Name {
		t.Errorf("PV %s labelled for node %q, pod on %s", pv.Name, pv.Labels[localpath.NodeLabel], node.Name)
	}
	b, err := os.ReadFile(filepath.Join(path, "log"))
	if err != nil {
		t.Fatalf("web-%d's volume: %v", i, err)
	}
	if want := strings.Join(s.wrote[i], "\n") + "\n"; string(b) != want {
		t.Errorf("web-%d's volume holds %q, want %q", i, b, want)
	}
}

func (s *suite) serverRestart(t *testing.T, ns string) {
	c := s.c
	c.WaitNodesReady(t, time.Minute)
	for i := range 3 {
		c.WaitPod(t, ns, fmt.Sprintf("web-%d", i), "Running and Ready after the restart", time.Minute, readyPod)
		claim, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-web-%d", i), metav1.GetOptions{})
		if err != nil || claim.Status.Phase != v1.ClaimBound {
			t.Errorf("claim data-web-%d after the restart: %v %v", i, claimPhase(claim), err)
		}
	}
	s.recreate(t, ns, 1)
	s.recreate(t, ns, 2)
}

func (s *suite) reclaimDelete(t *testing.T) {
	c := s.c
	ns := c.Namespace(t, "del")
	s.createClaim(t, ns, claimSpec("data", nil))
	s.runWriter(t, ns, "writer", "data", nil)
	pv, path := volumeOf(t, c, ns, "data")
	if _, err := os.Stat(filepath.Join(path, "f")); err != nil {
		t.Fatalf("pod's file not in the volume: %v", err)
	}
	s.deletePod(t, ns, "writer")
	if err := c.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "PV "+pv.Name+" deleted", time.Minute, func() (bool, string) {
		p, err := c.Client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("phase %s, finalizers %v, deleting %v", p.Status.Phase, p.Finalizers, p.DeletionTimestamp != nil)
	})
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("directory %s of the deleted volume still there (%v)", path, err)
	}
}

func (s *suite) reclaimRetain(t *testing.T) {
	c := s.c
	ns := c.Namespace(t, "retain")
	class := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: ns},
		Provisioner:       localpath.Provisioner,
		ReclaimPolicy:     ptr.To(v1.PersistentVolumeReclaimRetain),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	if _, err := c.Client.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Client.StorageV1().StorageClasses().Delete(ctx, ns, metav1.DeleteOptions{}) })
	s.createClaim(t, ns, claimSpec("data", ptr.To(ns)))
	s.runWriter(t, ns, "writer", "data", nil)
	pv, path := volumeOf(t, c, ns, "data")
	s.deletePod(t, ns, "writer")
	if err := c.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "PV "+pv.Name+" Released", time.Minute, func() (bool, string) {
		p, err := c.Client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Status.Phase == v1.VolumeReleased, string(p.Status.Phase)
	})
	if b, err := os.ReadFile(filepath.Join(path, "f")); err != nil || !strings.HasPrefix(string(b), "writer ") {
		t.Errorf("retained volume lost its data: %q %v", b, err)
	}
	out := kubectl(t, c, "get", "pv", pv.Name)
	if !strings.Contains(out, "Released") || !strings.Contains(out, "Retain") {
		t.Errorf("kubectl get pv:\n%s", out)
	}
	// An administrator deleting a retained volume keeps its data (upstream's Retain).
	if err := c.Client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "PV "+pv.Name+" gone", time.Minute, func() (bool, string) {
		p, err := c.Client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("%v %v", p.GetFinalizers(), err)
	})
	if _, err := os.Stat(filepath.Join(path, "f")); err != nil {
		t.Errorf("deleting a Retain PV removed its data: %v", err)
	}
}

func (s *suite) missingClaim(t *testing.T) {
	c := s.c
	ns := c.Namespace(t, "missing")
	// Through the scheduler: the pod is not scheduled, and says why.
	pod := writerPod(c, "waiter", "late", nil)
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.WaitEvents(t, ns, "waiter", `persistentvolumeclaim "late" not found`)
	if p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "waiter", metav1.GetOptions{}); err != nil || p.Status.Phase != v1.PodPending || p.Spec.NodeName != "" {
		t.Errorf("pod with a missing claim: %v %v", p.Status.Phase, err)
	}
	s.createClaim(t, ns, claimSpec("late", nil))
	c.WaitPod(t, ns, "waiter", "Running once its claim exists", 2*time.Minute, readyPod)

	// Bound to a node directly (no scheduler): the node agent waits, ContainerCreating, with
	// FailedMount naming the claim, and starts the pod once the claim is bound.
	direct := writerPod(c, "direct", "manual", nil)
	direct.Spec.NodeName = c.Nodes[0].Name
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, direct, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.WaitEvents(t, ns, "direct", `FailedMount Unable to attach or mount volumes: unmounted volumes=[data], failed to process volumes=[data]: error processing PVC `+ns+`/manual: persistentvolumeclaim "manual" not found`)
	p := c.WaitPod(t, ns, "direct", "ContainerCreating", 30*time.Second, func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil
	})
	if w := p.Status.ContainerStatuses[0].State.Waiting; p.Status.Phase != v1.PodPending || w.Reason != "ContainerCreating" {
		t.Errorf("waiting pod: phase %s, waiting %+v", p.Status.Phase, w)
	}
	dir := filepath.Join(t.TempDir(), "manual")
	s.hostPathPV(t, ns, "manual", dir)
	// Pending until the PV controller binds the pre-bound pair.
	c.WaitPod(t, ns, "direct", "Running once its claim is bound", 2*time.Minute, readyPod)
	if ev := c.Events(t, ns, "direct"); strings.Contains(ev, "BackOff") || strings.Contains(ev, "Failed ") {
		t.Errorf("waiting for a claim looked like a failure:\n%s", ev)
	}
}

// hostPathPV makes a hostPath PV at dir (DirectoryOrCreate) pre-bound to claim ns/name, and the
// claim naming it, both without a class.
func (s *suite) hostPathPV(t *testing.T, ns, name, dir string) {
	t.Helper()
	pvName := ns + "-" + name
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: v1.PersistentVolumeReclaimRetain,
			StorageClassName:              "",
			ClaimRef:                      &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: name},
			PersistentVolumeSource: v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{
				Path: dir, Type: ptr.To(v1.HostPathDirectoryOrCreate)}},
		},
	}
	if _, err := s.c.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.c.Client.CoreV1().PersistentVolumes().Delete(ctx, pvName, metav1.DeleteOptions{}) })
	claim := claimSpec(name, ptr.To(""))
	claim.Spec.VolumeName = pvName
	s.createClaim(t, ns, claim)
}

func (s *suite) hostPathVolume(t *testing.T) {
	c := s.c
	ns := c.Namespace(t, "hostpath")
	dir := filepath.Join(t.TempDir(), "vol")
	s.hostPathPV(t, ns, "data", dir)
	script := `echo hi > /sub/f && echo sub-written
if echo x > /ro/x 2>/dev/null; then echo ro-writable; else echo ro-refused; fi
if echo x > /whole-ro/x 2>/dev/null; then echo whole-ro-writable; else echo whole-ro-refused; fi
ls /ro | tr '\n' ' '; echo
exec sleep 3600`
	ctr := c.Busybox("c", script)
	ctr.VolumeMounts = []v1.VolumeMount{
		{Name: "data", MountPath: "/sub", SubPath: "sub"},
		{Name: "data", MountPath: "/ro", ReadOnly: true},
		{Name: "readonly", MountPath: "/whole-ro"},
	}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "mounts"},
		Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers:                    []v1.Container{ctr},
			Volumes: []v1.Volume{
				{Name: "data", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "readonly", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "data", ReadOnly: true}}},
			},
		},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := c.WaitPod(t, ns, "mounts", "Running and Ready", 2*time.Minute, readyPod)
	var logs string
	poll(t, "the pod's checks logged", 30*time.Second, func() (bool, string) {
		logs = c.Logs(t, ns, "mounts", "c")
		return strings.Count(logs, "\n") >= 4, logs
	})
	for _, want := range []string{"sub-written", "ro-refused", "whole-ro-refused", "sub "} {
		if !strings.Contains(logs, want) {
			t.Errorf("pod logs lack %q:\n%s", want, logs)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "f")); err != nil || string(b) != "hi\n" {
		t.Errorf("subPath write not in the volume: %q %v", b, err)
	}
	s.deletePod(t, ns, "mounts")
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "f")); err != nil || string(b) != "hi\n" {
		t.Errorf("tearing the pod down touched the volume: %q %v", b, err)
	}
	node := c.Node(p.Spec.NodeName)
	if left := node.Leftovers(string(p.UID)); len(left) > 0 {
		t.Errorf("node %s kept %v of the pod", node.Name, left)
	}
}

func (s *suite) podsFollowVolumes(t *testing.T) {
	c := s.c
	ns := c.Namespace(t, "follow")
	n0, n1 := c.Nodes[0].Name, c.Nodes[1].Name
	for name, node := range map[string]string{"a": n0, "b": n1} {
		s.createClaim(t, ns, claimSpec(name, nil))
		s.runWriter(t, ns, "first-"+name, name, &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
			}}}}})
	}
	for name, node := range map[string]*testcluster.Node{"a": c.Nodes[0], "b": c.Nodes[1]} {
		pv, path := volumeOf(t, c, ns, name)
		if want := filepath.Join(node.DataDir, "storage", "local-path") + "/"; !strings.HasPrefix(path, want) {
			t.Errorf("claim %s: PV %s at %s, not under node %s's root %s", name, pv.Name, path, node.Name, want)
		}
		s.deletePod(t, ns, "first-"+name)
	}
	// Again, now preferring the other node: the volume's node affinity must win.
	for name, other := range map[string]string{"a": n1, "b": n0} {
		s.runWriter(t, ns, "second-"+name, name, &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{{Weight: 100, Preference: v1.NodeSelectorTerm{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{other}}},
			}}}}})
	}
	for name, want := range map[string]string{"a": n0, "b": n1} {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "second-"+name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != want {
			t.Errorf("pod of claim %s landed on %s, its volume is on %s", name, p.Spec.NodeName, want)
		}
		if logs := c.Logs(t, ns, "second-"+name, "c"); !strings.Contains(logs, "first-"+name+" ") {
			t.Errorf("pod of claim %s does not see the first pod's data: %q", name, logs)
		}
	}
}

// createClaim creates claim in ns.
func (s *suite) createClaim(t *testing.T, ns string, claim v1.PersistentVolumeClaim) {
	t.Helper()
	claim.Namespace = ns
	if _, err := s.c.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// writerPod prints the volume's file f, then appends its name and the time to it, and sleeps.
func writerPod(c *testcluster.Cluster, name, claim string, aff *v1.Affinity) *v1.Pod {
	script := `echo "previous: $(cat /data/f 2>/dev/null)"; echo "$(hostname) $(date +%s)" >> /data/f; echo written; exec sleep 3600`
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Affinity:                      aff,
			Containers:                    []v1.Container{withMount(c.Busybox("c", script), "data", "/data", "")},
			Volumes: []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{
				PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
		},
	}
}

func (s *suite) runWriter(t *testing.T, ns, name, claim string, aff *v1.Affinity) *v1.Pod {
	t.Helper()
	if _, err := s.c.Client.CoreV1().Pods(ns).Create(ctx, writerPod(s.c, name, claim, aff), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := s.c.WaitPod(t, ns, name, "Running and Ready", 2*time.Minute, readyPod)
	poll(t, name+" wrote", 30*time.Second, func() (bool, string) {
		l := s.c.Logs(t, ns, name, "c")
		return strings.Contains(l, "written"), l
	})
	return p
}

func (s *suite) deletePod(t *testing.T, ns, name string) {
	t.Helper()
	if err := s.c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.c.WaitGone(t, ns, name, time.Minute)
}

func claimSpec(name string, class *string) v1.PersistentVolumeClaim {
	return v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeClaimSpec{
			StorageClassName: class,
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

func withMount(c v1.Container, volume, path, subPath string) v1.Container {
	c.VolumeMounts = append(c.VolumeMounts, v1.VolumeMount{Name: volume, MountPath: path, SubPath: subPath})
	return c
}

// volumeOf follows a Bound claim to its PV and the PV's directory on the host.
func volumeOf(t *testing.T, c *testcluster.Cluster, ns, claim string) (*v1.PersistentVolume, string) {
	t.Helper()
	pvc, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Status.Phase != v1.ClaimBound || pvc.Spec.VolumeName == "" {
		t.Fatalf("claim %s/%s is %s", ns, claim, pvc.Status.Phase)
	}
	pv, err := c.Client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != pvc.UID {
		t.Errorf("PV %s claimRef %+v, claim uid %s", pv.Name, pv.Spec.ClaimRef, pvc.UID)
	}
	switch {
	case pv.Spec.Local != nil:
		return pv, pv.Spec.Local.Path
	case pv.Spec.HostPath != nil:
		return pv, pv.Spec.HostPath.Path
	}
	t.Fatalf("PV %s is neither local nor hostPath", pv.Name)
	return nil, ""
}

func claimPhase(c *v1.PersistentVolumeClaim) v1.PersistentVolumeClaimPhase {
	if c == nil {
		return ""
	}
	return c.Status.Phase
}

func readyPod(p *v1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase == v1.PodRunning && testcluster.PodReady(p)
}

// wroteLine waits for the pod's "wrote: " line and returns what follows.
func wroteLine(t *testing.T, c *testcluster.Cluster, ns, pod string) string {
	t.Helper()
	var line string
	poll(t, pod+" wrote", 30*time.Second, func() (bool, string) {
		l := c.Logs(t, ns, pod, "web")
		_, after, ok := strings.Cut(l, "wrote: ")
		line, _, _ = strings.Cut(after, "\n")
		return ok && strings.HasPrefix(line, pod+" "), l
	})
	return line
}

func previousLine(t *testing.T, c *testcluster.Cluster, ns, pod string) string {
	t.Helper()
	var prev string
	poll(t, pod+" read", 30*time.Second, func() (bool, string) {
		l := c.Logs(t, ns, pod, "web")
		_, after, ok := strings.Cut(l, "previous: ")
		prev, _, _ = strings.Cut(after, "\n")
		return ok, l
	})
	return prev
}

// poll checks cond every 100 ms until it holds, failing the test with cond's last word after
// timeout.
func poll(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kubectl runs kubectl, failing the test unless it exits 0, and returns stdout.
func kubectl(t *testing.T, c *testcluster.Cluster, args ...string) string {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := c.KubectlCmd(cctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}
