package storage

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/skiff-dev/skiff/internal/localpath"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/embeddedkubectl"
)

var shared *testserver.Server

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	s, err := testserver.StartWithControllers(testserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test server:", err)
		return 1
	}
	defer s.Stop()
	shared = s
	return m.Run()
}

var counter atomic.Int64

type env struct {
	ctx  context.Context
	cs   kubernetes.Interface
	ns   string
	node string
}

// newEnv makes a namespace and a Ready node with a local-path root, both named for the test.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	name := fmt.Sprintf("st-%d", counter.Add(1))
	cs := shared.Client
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := &env{ctx: ctx, cs: cs, ns: name, node: "node-" + name}
	e.makeNode(t, e.node, true)
	return e
}

func (e *env) makeNode(t *testing.T, name string, root bool) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}}
	if root {
		n.Annotations = map[string]string{localpath.RootAnnotation: "/var/lib/skiff/" + name + "/storage/local-path"}
	}
	if _, err := e.cs.CoreV1().Nodes().Create(e.ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The node controllers write to a new Node too: retry on their conflicts.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := e.cs.CoreV1().Nodes().Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}}
		_, err = e.cs.CoreV1().Nodes().UpdateStatus(e.ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

func ptr[T any](v T) *T { return &v }

func (e *env) claim(t *testing.T, name, size string, class *string, mod ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	t.Helper()
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
			StorageClassName: class,
		}}
	for _, m := range mod {
		m(c)
	}
	out, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Create(e.ctx, c, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// volume creates a hostPath PV named <ns>-<name>.
func (e *env) volume(t *testing.T, name, size, class string, policy corev1.PersistentVolumeReclaimPolicy, mod ...func(*corev1.PersistentVolume)) string {
	t.Helper()
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: e.ns + "-" + name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: policy,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}},
		}}
	for _, m := range mod {
		m(pv)
	}
	if _, err := e.cs.CoreV1().PersistentVolumes().Create(e.ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.forceDeleteVolume(pv.Name) })
	return pv.Name
}

// forceDeleteVolume deletes a PV and strips its finalizers (no protection controller or node
// agent runs here).
func (e *env) forceDeleteVolume(name string) {
	ctx := context.Background()
	_ = e.cs.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{})
	_, _ = e.cs.CoreV1().PersistentVolumes().Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
}

func (e *env) eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(e.ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last error: %v)", what, err, last)
	}
}

func (e *env) getClaim(name string) (*corev1.PersistentVolumeClaim, error) {
	return e.cs.CoreV1().PersistentVolumeClaims(e.ns).Get(e.ctx, name, metav1.GetOptions{})
}

// waitBound waits for claim name to be Bound and returns its volume.
func (e *env) waitBound(t *testing.T, name string) *corev1.PersistentVolume {
	t.Helper()
	var pv *corev1.PersistentVolume
	e.eventually(t, "claim "+name+" Bound", func() (bool, error) {
		c, err := e.getClaim(name)
		if err != nil || c.Status.Phase != corev1.ClaimBound {
			return false, err
		}
		pv, err = e.cs.CoreV1().PersistentVolumes().Get(e.ctx, c.Spec.VolumeName, metav1.GetOptions{})
		return err == nil && pv.Status.Phase == corev1.VolumeBound, err
	})
	return pv
}

// waitEvent waits for an event on the claim with reason and a message containing msg.
func (e *env) waitEvent(t *testing.T, claim, reason, msg string) {
	t.Helper()
	e.eventually(t, fmt.Sprintf("event %s on %s", reason, claim), func() (bool, error) {
		evs, err := e.cs.CoreV1().Events(e.ns).List(e.ctx, metav1.ListOptions{FieldSelector: fields.Set{"involvedObject.name": claim}.String()})
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(evs.Items, func(ev corev1.Event) bool {
			return ev.Reason == reason && strings.Contains(ev.Message, msg) && ev.Source.Component == "persistentvolume-controller"
		}), nil
	})
}

func TestDefaultStorageClass(t *testing.T) {
	e := newEnv(t)
	sc, err := e.cs.StorageV1().StorageClasses().Get(e.ctx, localpath.ClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("default class missing: %v", err)
	}
	if sc.Provisioner != localpath.Provisioner || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer ||
		*sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || !*sc.AllowVolumeExpansion {
		t.Fatalf("default class %+v", sc)
	}
	c := e.claim(t, "defaulted", "1Gi", nil)
	if c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != localpath.ClassName {
		t.Fatalf("storageClassName = %v, want the default", c.Spec.StorageClassName)
	}
	if c := e.claim(t, "none", "1Gi", ptr("")); *c.Spec.StorageClassName != "" {
		t.Fatalf("explicit \"\" changed to %q", *c.Spec.StorageClassName)
	}
	e.waitEvent(t, "defaulted", "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
	e.waitEvent(t, "none", "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
}

func TestStaticBinding(t *testing.T) {
	e := newEnv(t)
	class := "manual-" + e.ns
	e.volume(t, "small", "500Mi", class, corev1.PersistentVolumeReclaimRetain)
	fit := e.volume(t, "fit", "2Gi", class, corev1.PersistentVolumeReclaimRetain)
	big := e.volume(t, "big", "10Gi", class, corev1.PersistentVolumeReclaimRetain)
	ssd := e.volume(t, "ssd", "20Gi", class, corev1.PersistentVolumeReclaimRetain, func(pv *corev1.PersistentVolume) {
		pv.Labels = map[string]string{"disk": "ssd"}
	})
	named := e.volume(t, "named", "30Gi", class, corev1.PersistentVolumeReclaimRetain)

	e.claim(t, "by-size", "1Gi", &class)
	if pv := e.waitBound(t, "by-size"); pv.Name != fit {
		t.Fatalf("by-size bound to %s, want %s (smallest that fits)", pv.Name, fit)
	}
	e.claim(t, "by-selector", "1Gi", &class, func(c *corev1.PersistentVolumeClaim) {
		c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"disk": "ssd"}}
	})
	if pv := e.waitBound(t, "by-selector"); pv.Name != ssd {
		t.Fatalf("by-selector bound to %s, want %s", pv.Name, ssd)
	}
	e.claim(t, "by-name", "1Gi", &class, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = named })
	pv := e.waitBound(t, "by-name")
	if pv.Name != named {
		t.Fatalf("by-name bound to %s, want %s", pv.Name, named)
	}
	c, _ := e.getClaim("by-name")
	if c.Annotations["pv.kubernetes.io/bind-completed"] != "yes" || c.Status.Capacity.Storage().String() != "30Gi" {
		t.Fatalf("claim annotations %v capacity %v", c.Annotations, c.Status.Capacity)
	}
	if pv.Annotations["pv.kubernetes.io/bound-by-controller"] != "yes" || pv.Spec.ClaimRef.UID != c.UID {
		t.Fatalf("volume annotations %v claimRef %+v", pv.Annotations, pv.Spec.ClaimRef)
	}
	// A volume pre-bound to a claim (claimRef without uid) goes to that claim, not the smaller match.
	pre := e.volume(t, "pre", "40Gi", class, corev1.PersistentVolumeReclaimRetain, func(pv *corev1.PersistentVolume) {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: e.ns, Name: "pre-bound"}
	})
	e.claim(t, "pre-bound", "1Gi", &class)
	if pv := e.waitBound(t, "pre-bound"); pv.Name != pre {
		t.Fatalf("pre-bound bound to %s, want %s", pv.Name, pre)
	}
	// A free volume created after the claim is found without waiting for the resync.
	e.claim(t, "later", "5Gi", &class)
	start := time.Now()
	if pv := e.waitBound(t, "later"); pv.Name != big {
		t.Fatalf("later bound to %s, want %s", pv.Name, big)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("binding to an existing volume took %s", d)
	}
}

func TestImmediateProvisioning(t *testing.T) {
	e := newEnv(t)
	e.makeNode(t, e.node+"-noroot", false)
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "imm-" + e.ns}, Provisioner: localpath.Provisioner,
		VolumeBindingMode: ptr(storagev1.VolumeBindingImmediate), ReclaimPolicy: ptr(corev1.PersistentVolumeReclaimRetain),
		AllowedTopologies: []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{{
			Key: corev1.LabelHostname, Values: []string{e.node, e.node + "-noroot"}}}}}}
	if _, err := e.cs.StorageV1().StorageClasses().Create(e.ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.cs.StorageV1().StorageClasses().Delete(context.Background(), class.Name, metav1.DeleteOptions{})
	})
	start := time.Now()
	c := e.claim(t, "data", "3Gi", &class.Name)
	pv := e.waitBound(t, "data")
	t.Logf("Immediate claim bound %s after create", time.Since(start))
	t.Cleanup(func() { e.forceDeleteVolume(pv.Name) })
	checkProvisioned(t, pv, c, e.node, corev1.PersistentVolumeReclaimRetain)
	e.waitEvent(t, "data", "ProvisioningSucceeded", "Successfully provisioned volume "+pv.Name)
}

func checkProvisioned(t *testing.T, pv *corev1.PersistentVolume, c *corev1.PersistentVolumeClaim, node string, reclaim corev1.PersistentVolumeReclaimPolicy) {
	t.Helper()
	wantPath := fmt.Sprintf("/var/lib/skiff/%s/storage/local-path/pvc-%s_%s_%s", node, c.UID, c.Namespace, c.Name)
	aff := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]
	switch {
	case pv.Name != "pvc-"+string(c.UID):
		t.Errorf("name %s", pv.Name)
	case pv.Spec.Local == nil || pv.Spec.Local.Path != wantPath:
		t.Errorf("local %+v, want path %s", pv.Spec.Local, wantPath)
	case aff.Key != corev1.LabelHostname || !slices.Equal(aff.Values, []string{node}):
		t.Errorf("affinity %+v", aff)
	case pv.Labels[localpath.NodeLabel] != node || pv.Annotations["pv.kubernetes.io/provisioned-by"] != localpath.Provisioner:
		t.Errorf("labels %v annotations %v", pv.Labels, pv.Annotations)
	case !slices.Contains(pv.Finalizers, localpath.CleanupFinalizer):
		t.Errorf("finalizers %v", pv.Finalizers)
	case pv.Spec.PersistentVolumeReclaimPolicy != reclaim || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem:
		t.Errorf("reclaim %s mode %v", pv.Spec.PersistentVolumeReclaimPolicy, pv.Spec.VolumeMode)
	case !pv.Spec.Capacity.Storage().Equal(*c.Spec.Resources.Requests.Storage()):
		t.Errorf("capacity %v", pv.Spec.Capacity)
	}
}

func TestWaitForFirstConsumer(t *testing.T) {
	e := newEnv(t)
	e.makeNode(t, e.node+"-b", true)
	c := e.claim(t, "data", "1Gi", nil)
	e.waitEvent(t, "data", "WaitForFirstConsumer", "waiting for first consumer")
	if c, _ := e.getClaim("data"); c.Spec.VolumeName != "" || c.Status.Phase != corev1.ClaimPending {
		t.Fatalf("claim bound before a consumer: %q %s", c.Spec.VolumeName, c.Status.Phase)
	}
	// The scheduler's part, by hand: pick the second node.
	start := time.Now()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"volume.kubernetes.io/selected-node":%q}}}`, e.node+"-b")
	if _, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Patch(e.ctx, "data", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	pv := e.waitBound(t, "data")
	t.Logf("bound %s after the selected-node annotation", time.Since(start))
	t.Cleanup(func() { e.forceDeleteVolume(pv.Name) })
	checkProvisioned(t, pv, c, e.node+"-b", corev1.PersistentVolumeReclaimDelete)
	e.waitEvent(t, "data", "ProvisioningSucceeded", pv.Name)
	c, _ = e.getClaim("data")
	if c.Annotations["volume.kubernetes.io/storage-provisioner"] != localpath.Provisioner {
		t.Errorf("claim annotations %v", c.Annotations)
	}
}

// deleteClaim deletes a claim and, as no pvc-protection controller runs here, drops its
// finalizers so that it goes.
func (e *env) deleteClaim(t *testing.T, name string) {
	t.Helper()
	if err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Delete(e.ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Patch(e.ctx, name, types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestReclaim(t *testing.T) {
	e := newEnv(t)
	class := "manual-" + e.ns
	retained := e.volume(t, "retained", "1Gi", class, corev1.PersistentVolumeReclaimRetain)
	failing := e.volume(t, "failing", "2Gi", class, corev1.PersistentVolumeReclaimDelete)
	e.claim(t, "keep", "1Gi", &class, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = retained })
	e.claim(t, "fail", "1Gi", &class, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = failing })
	e.claim(t, "gone", "1Gi", nil, func(c *corev1.PersistentVolumeClaim) {
		c.Annotations = map[string]string{"volume.kubernetes.io/selected-node": e.node}
	})
	e.waitBound(t, "keep")
	e.waitBound(t, "fail")
	provisioned := e.waitBound(t, "gone")
	t.Cleanup(func() { e.forceDeleteVolume(provisioned.Name) })

	for _, name := range []string{"keep", "fail", "gone"} {
		e.deleteClaim(t, name)
	}
	phase := func(name string, want corev1.PersistentVolumePhase) {
		t.Helper()
		e.eventually(t, name+" "+string(want), func() (bool, error) {
			pv, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, name, metav1.GetOptions{})
			return err == nil && pv.Status.Phase == want, err
		})
	}
	phase(retained, corev1.VolumeReleased)
	phase(failing, corev1.VolumeFailed)
	pv, _ := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, failing, metav1.GetOptions{})
	if want := fmt.Sprintf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", failing); pv.Status.Message != want {
		t.Errorf("failed volume message %q, want %q", pv.Status.Message, want)
	}
	// Delete: the controller deletes the object; the node agent's finalizer holds it.
	e.eventually(t, "provisioned volume deleting", func() (bool, error) {
		pv, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, provisioned.Name, metav1.GetOptions{})
		return err == nil && pv.DeletionTimestamp != nil, err
	})
	time.Sleep(300 * time.Millisecond)
	pv, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, provisioned.Name, metav1.GetOptions{})
	if err != nil || !slices.Contains(pv.Finalizers, localpath.CleanupFinalizer) {
		t.Fatalf("the cleanup finalizer went without a node agent: %v %v", err, pv)
	}
	// The agent's part, by hand (and the pv-protection controller's, which is not on this branch).
	pv.Finalizers = nil
	if _, err := e.cs.CoreV1().PersistentVolumes().Update(e.ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(t, "provisioned volume gone", func() (bool, error) {
		_, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, provisioned.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

func TestOrphanedVolumeCleanup(t *testing.T) {
	e := newEnv(t)
	e.makeNode(t, e.node+"-doomed", true)
	e.claim(t, "data", "1Gi", nil, func(c *corev1.PersistentVolumeClaim) {
		c.Annotations = map[string]string{"volume.kubernetes.io/selected-node": e.node + "-doomed"}
	})
	pv := e.waitBound(t, "data")
	t.Cleanup(func() { e.forceDeleteVolume(pv.Name) })
	if err := e.cs.CoreV1().Nodes().Delete(e.ctx, e.node+"-doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.deleteClaim(t, "data")
	e.eventually(t, "cleanup finalizer removed once the node is gone", func() (bool, error) {
		pv, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, pv.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && pv.DeletionTimestamp != nil && !slices.Contains(pv.Finalizers, localpath.CleanupFinalizer), err
	})
}

func TestExpansion(t *testing.T) {
	e := newEnv(t)
	e.claim(t, "data", "1Gi", nil, func(c *corev1.PersistentVolumeClaim) {
		c.Annotations = map[string]string{"volume.kubernetes.io/selected-node": e.node}
	})
	pv := e.waitBound(t, "data")
	t.Cleanup(func() { e.forceDeleteVolume(pv.Name) })
	resize := func(claim, size string) error {
		patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, size)
		_, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Patch(e.ctx, claim, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	}
	if err := resize("data", "5Gi"); err != nil {
		t.Fatal(err)
	}
	e.eventually(t, "volume and claim at 5Gi", func() (bool, error) {
		pv, err := e.cs.CoreV1().PersistentVolumes().Get(e.ctx, pv.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c, err := e.getClaim("data")
		return err == nil && pv.Spec.Capacity.Storage().String() == "5Gi" && c.Status.Capacity.Storage().String() == "5Gi", err
	})
	e.waitEvent(t, "data", "VolumeResizeSuccessful", pv.Name)
	err := resize("data", "2Gi")
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.resources.requests.storage: Forbidden: field can not be less than status.capacity") {
		t.Fatalf("shrink: %v", err)
	}

	// A class without allowVolumeExpansion refuses growth with upstream's words.
	class := "manual-" + e.ns
	if _, err := e.cs.StorageV1().StorageClasses().Create(e.ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: class},
		Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: ptr(storagev1.VolumeBindingImmediate)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.cs.StorageV1().StorageClasses().Delete(context.Background(), class, metav1.DeleteOptions{})
	})
	fixed := e.volume(t, "fixed", "1Gi", class, corev1.PersistentVolumeReclaimRetain)
	e.claim(t, "fixed", "1Gi", &class, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = fixed })
	e.waitBound(t, "fixed")
	err = resize("fixed", "2Gi")
	want := fmt.Sprintf(`persistentvolumeclaims "fixed" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize`)
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Fatalf("growth on a fixed class: %v", err)
	}
}

var spaces = regexp.MustCompile(` {2,}`)

// columns turns kubectl's table output into rows of cells.
func columns(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, spaces.Split(strings.TrimSpace(line), -1))
	}
	return rows
}

func TestKubectlColumns(t *testing.T) {
	e := newEnv(t)
	e.claim(t, "web", "1Gi", nil, func(c *corev1.PersistentVolumeClaim) {
		c.Annotations = map[string]string{"volume.kubernetes.io/selected-node": e.node}
	})
	pv := e.waitBound(t, "web")
	t.Cleanup(func() { e.forceDeleteVolume(pv.Name) })

	out, _ := embeddedkubectl.Run(t, shared.Kubeconfig, "get", "sc", localpath.ClassName)
	rows := columns(out)
	wantSC := [][]string{{"NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"},
		{"local-path (default)", "skiff.dev/local-path", "Delete", "WaitForFirstConsumer", "true"}}
	if len(rows) != 2 || !slices.Equal(rows[0], wantSC[0]) || !slices.Equal(rows[1][:5], wantSC[1]) {
		t.Errorf("kubectl get sc:\n%s", out)
	}
	out, _ = embeddedkubectl.Run(t, shared.Kubeconfig, "get", "pvc", "-n", e.ns)
	rows = columns(out)
	wantPVC := []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"}
	if len(rows) != 2 || !slices.Equal(rows[0], wantPVC) || !slices.Equal(rows[1][:7], []string{"web", "Bound", pv.Name, "1Gi", "RWO", "local-path", "<unset>"}) {
		t.Errorf("kubectl get pvc:\n%s", out)
	}
	out, _ = embeddedkubectl.Run(t, shared.Kubeconfig, "get", "pv", pv.Name)
	rows = columns(out)
	wantPV := []string{"NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"}
	// REASON is empty, so the row has one cell fewer than the header once blanks are collapsed.
	if len(rows) != 2 || !slices.Equal(rows[0], wantPV) ||
		!slices.Equal(rows[1][:8], []string{pv.Name, "1Gi", "RWO", "Delete", "Bound", e.ns + "/web", "local-path", "<unset>"}) {
		t.Errorf("kubectl get pv:\n%s", out)
	}
	out, _ = embeddedkubectl.Run(t, shared.Kubeconfig, "describe", "pvc", "-n", e.ns, "web")
	for _, want := range []string{"Status:", "Bound", "Volume:", pv.Name, "ProvisioningSucceeded", "persistentvolume-controller"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe pvc lacks %q:\n%s", want, out)
		}
	}
}
