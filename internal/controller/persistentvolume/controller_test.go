package persistentvolume

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-dev/skiff/internal/localpath"
)

type env struct {
	f      informers.SharedInformerFactory
	c      *Controller
	cs     *fake.Clientset
	events *record.FakeRecorder
}

// newEnv seeds the fake API and the informer stores with objs, as if the caches had synced.
func newEnv(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	cs := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(cs, 0)
	rec := record.NewFakeRecorder(100)
	c, err := New(Config{Client: cs, Informers: f, Recorder: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.PersistentVolume:
			err = f.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolumeClaim:
			err = f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
		case *storagev1.StorageClass:
			err = f.Storage().V1().StorageClasses().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &env{f: f, c: c, cs: cs, events: rec}
}

// refresh copies what the API holds into the informer stores, as the watches would.
func (e *env) refresh(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	pvs, _ := e.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	for i := range pvs.Items {
		must(t, e.f.Core().V1().PersistentVolumes().Informer().GetIndexer().Update(&pvs.Items[i]))
	}
	pvcs, _ := e.cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	for i := range pvcs.Items {
		must(t, e.f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Update(&pvcs.Items[i]))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) drainEvents() []string {
	var out []string
	for {
		select {
		case ev := <-e.events.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func (e *env) pv(t *testing.T, name string) *corev1.PersistentVolume {
	t.Helper()
	pv, err := e.cs.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pv %s: %v", name, err)
	}
	return pv
}

func (e *env) pvc(t *testing.T) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc, err := e.cs.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "data", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pvc: %v", err)
	}
	return pvc
}

func ptr[T any](v T) *T { return &v }

func claim(size, class string, mod ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "claim-uid"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
			StorageClassName: ptr(class),
			VolumeMode:       ptr(corev1.PersistentVolumeFilesystem),
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	for _, m := range mod {
		m(c)
	}
	return c
}

func volume(name, size, class string, mod ...func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			VolumeMode:                    ptr(corev1.PersistentVolumeFilesystem),
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	for _, m := range mod {
		m(v)
	}
	return v
}

func boundTo(uid string) func(*corev1.PersistentVolume) {
	return func(v *corev1.PersistentVolume) {
		v.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "ns", Name: "data", UID: types.UID(uid)}
	}
}

func class(name, provisioner string, mode storagev1.VolumeBindingMode, mod ...func(*storagev1.StorageClass)) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner,
		ReclaimPolicy: ptr(corev1.PersistentVolumeReclaimDelete), VolumeBindingMode: ptr(mode), AllowVolumeExpansion: ptr(true)}
	for _, m := range mod {
		m(sc)
	}
	return sc
}

func node(name string, ready bool, root string) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name + "-host"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}}}
	if root != "" {
		n.Annotations = map[string]string{localpath.RootAnnotation: root}
	}
	return n
}

func hasEvent(events []string, prefix string) bool {
	return slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, prefix) })
}

func TestStaticBinding(t *testing.T) {
	cases := []struct {
		name       string
		claim      *corev1.PersistentVolumeClaim
		pvs        []*corev1.PersistentVolume
		want       string // volume the claim binds to; "" = stays Pending
		byCtrl     bool   // bound-by-controller on the volume
		wantEvents []string
	}{
		{name: "smallest fitting", claim: claim("1Gi", "manual"),
			pvs:  []*corev1.PersistentVolume{volume("small", "500Mi", "manual"), volume("fit", "2Gi", "manual"), volume("big", "5Gi", "manual")},
			want: "fit", byCtrl: true},
		{name: "class must match", claim: claim("1Gi", "manual"), pvs: []*corev1.PersistentVolume{volume("other", "2Gi", "fast")},
			wantEvents: []string{"Warning ProvisioningFailed storageclass.storage.k8s.io \"manual\" not found"}},
		{name: "no class and nothing fits", claim: claim("1Gi", ""), pvs: []*corev1.PersistentVolume{volume("tiny", "1Mi", "")},
			wantEvents: []string{"Normal FailedBinding no persistent volumes available for this claim and no storage class is set"}},
		{name: "selector", claim: claim("1Gi", "manual", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"disk": "ssd"}}
		}), pvs: []*corev1.PersistentVolume{volume("plain", "1Gi", "manual"), volume("ssd", "3Gi", "manual", func(v *corev1.PersistentVolume) {
			v.Labels = map[string]string{"disk": "ssd"}
		})}, want: "ssd", byCtrl: true},
		{name: "volumeName", claim: claim("1Gi", "manual", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "named" }),
			pvs:  []*corev1.PersistentVolume{volume("fit", "1Gi", "manual"), volume("named", "3Gi", "manual")},
			want: "named", byCtrl: true},
		{name: "volumeName that does not fit", claim: claim("5Gi", "manual", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "named" }),
			pvs:        []*corev1.PersistentVolume{volume("named", "3Gi", "manual")},
			wantEvents: []string{`Warning VolumeMismatch Cannot bind to requested volume "named": capacity`}},
		{name: "pre-bound claimRef wins", claim: claim("1Gi", "manual"),
			pvs:  []*corev1.PersistentVolume{volume("fit", "1Gi", "manual"), volume("mine", "9Gi", "manual", boundTo(""))},
			want: "mine", byCtrl: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.claim}
			for _, pv := range tc.pvs {
				objs = append(objs, pv)
			}
			e := newEnv(t, objs...)
			if err := e.c.syncClaim(context.Background(), "ns/data"); err != nil {
				t.Fatal(err)
			}
			events := e.drainEvents()
			for _, want := range tc.wantEvents {
				if !hasEvent(events, want) {
					t.Errorf("events %q lack %q", events, want)
				}
			}
			pvc := e.pvc(t)
			if tc.want == "" {
				if pvc.Spec.VolumeName != tc.claim.Spec.VolumeName || pvc.Status.Phase != corev1.ClaimPending {
					t.Fatalf("claim changed: volumeName %q phase %s", pvc.Spec.VolumeName, pvc.Status.Phase)
				}
				return
			}
			if pvc.Spec.VolumeName != tc.want || pvc.Status.Phase != corev1.ClaimBound ||
				pvc.Annotations[AnnBindCompleted] != "yes" {
				t.Fatalf("claim: volumeName %q phase %s annotations %v", pvc.Spec.VolumeName, pvc.Status.Phase, pvc.Annotations)
			}
			pv := e.pv(t, tc.want)
			if !pvc.Status.Capacity[corev1.ResourceStorage].Equal(pv.Spec.Capacity[corev1.ResourceStorage]) {
				t.Errorf("claim capacity %v, volume %v", pvc.Status.Capacity, pv.Spec.Capacity)
			}
			if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != "claim-uid" || pv.Status.Phase != corev1.VolumeBound {
				t.Fatalf("volume: claimRef %+v phase %s", pv.Spec.ClaimRef, pv.Status.Phase)
			}
			if got := pv.Annotations[AnnBoundByController] == "yes"; got != tc.byCtrl {
				t.Errorf("volume bound-by-controller = %v, want %v", got, tc.byCtrl)
			}
			if pv.Status.LastPhaseTransitionTime == nil {
				t.Error("no lastPhaseTransitionTime")
			}
			// A second sync of the bound pair writes nothing.
			e.refresh(t)
			e.cs.ClearActions()
			must(t, e.c.syncClaim(context.Background(), "ns/data"))
			must(t, e.c.syncVolume(context.Background(), tc.want))
			for _, a := range e.cs.Actions() {
				if a.GetVerb() != "get" {
					t.Errorf("resync of a bound claim wrote: %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
		})
	}
}

func TestProvisioning(t *testing.T) {
	wfc := class(localpath.ClassName, localpath.Provisioner, storagev1.VolumeBindingWaitForFirstConsumer)
	imm := class("imm", localpath.Provisioner, storagev1.VolumeBindingImmediate, func(sc *storagev1.StorageClass) {
		sc.ReclaimPolicy = ptr(corev1.PersistentVolumeReclaimRetain)
	})
	zoned := class("zoned", localpath.Provisioner, storagev1.VolumeBindingImmediate, func(sc *storagev1.StorageClass) {
		sc.AllowedTopologies = []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{{
			Key: "zone", Values: []string{"b"}}}}}
	})
	ext := class("ext", "example.com/nfs", storagev1.VolumeBindingImmediate)
	selected := func(n string) func(*corev1.PersistentVolumeClaim) {
		return func(c *corev1.PersistentVolumeClaim) { c.Annotations = map[string]string{AnnSelectedNode: n} }
	}
	inZone := func(n *corev1.Node) *corev1.Node { n.Labels["zone"] = "b"; return n }
	busy := volume("busy", "1Gi", "imm", func(v *corev1.PersistentVolume) {
		v.Labels = map[string]string{localpath.NodeLabel: "n1"}
		v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "other", UID: "o"}
		v.Status.Phase = corev1.VolumeBound
	})
	cases := []struct {
		name     string
		objs     []runtime.Object
		wantNode string // "" = nothing provisioned
		reclaim  corev1.PersistentVolumeReclaimPolicy
		events   []string
	}{
		{name: "wait for first consumer", objs: []runtime.Object{wfc, claim("1Gi", localpath.ClassName), node("n1", true, "/data/n1")},
			events: []string{"Normal WaitForFirstConsumer waiting for first consumer to be created before binding"}},
		{name: "selected node", objs: []runtime.Object{wfc, claim("1Gi", localpath.ClassName, selected("n2")),
			node("n1", true, "/data/n1"), node("n2", true, "/data/n2")},
			wantNode: "n2", reclaim: corev1.PersistentVolumeReclaimDelete,
			events: []string{"Normal Provisioning", "Normal ProvisioningSucceeded Successfully provisioned volume pvc-claim-uid"}},
		{name: "selected node without root", objs: []runtime.Object{wfc, claim("1Gi", localpath.ClassName, selected("n1")), node("n1", true, "")},
			events: []string{`Warning ProvisioningFailed node "n1" cannot host`}},
		{name: "selected node missing", objs: []runtime.Object{wfc, claim("1Gi", localpath.ClassName, selected("gone"))},
			events: []string{`Warning ProvisioningFailed the selected node "gone" does not exist`}},
		{name: "immediate picks the emptiest usable node", objs: []runtime.Object{imm, claim("1Gi", "imm"), busy,
			node("n1", true, "/data/n1"), node("n2", true, "/data/n2"), node("n0", false, "/data/n0"), node("n00", true, "")},
			wantNode: "n2", reclaim: corev1.PersistentVolumeReclaimRetain},
		{name: "immediate honours allowed topologies", objs: []runtime.Object{zoned, claim("1Gi", "zoned"),
			node("n1", true, "/data/n1"), inZone(node("n3", true, "/data/n3"))},
			wantNode: "n3", reclaim: corev1.PersistentVolumeReclaimDelete},
		{name: "immediate without nodes", objs: []runtime.Object{imm, claim("1Gi", "imm"), node("n1", false, "/data/n1")},
			events: []string{"Warning ProvisioningFailed no Ready, schedulable node"}},
		{name: "selector not supported", objs: []runtime.Object{imm, node("n1", true, "/d"), claim("1Gi", "imm", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		})}, events: []string{"Warning ProvisioningFailed claim.Spec.Selector is not supported"}},
		{name: "read write many not supported", objs: []runtime.Object{imm, node("n1", true, "/d"), claim("1Gi", "imm", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		})}, events: []string{"Warning ProvisioningFailed skiff.dev/local-path supports only"}},
		{name: "external provisioner", objs: []runtime.Object{ext, claim("1Gi", "ext")},
			events: []string{`Normal ExternalProvisioning Waiting for a volume to be created by the external provisioner "example.com/nfs"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.objs...)
			if err := e.c.syncClaim(context.Background(), "ns/data"); err != nil {
				t.Fatal(err)
			}
			events := e.drainEvents()
			for _, want := range tc.events {
				if !hasEvent(events, want) {
					t.Errorf("events %q lack %q", events, want)
				}
			}
			pvs, _ := e.cs.CoreV1().PersistentVolumes().List(context.Background(), metav1.ListOptions{})
			var pv *corev1.PersistentVolume
			for i := range pvs.Items {
				if pvs.Items[i].Name == "pvc-claim-uid" {
					pv = &pvs.Items[i]
				}
			}
			if tc.wantNode == "" {
				if pv != nil {
					t.Fatalf("volume provisioned: %+v", pv)
				}
				return
			}
			if pv == nil {
				t.Fatalf("nothing provisioned; events %q", events)
			}
			wantPath := "/data/" + tc.wantNode + "/pvc-claim-uid_ns_data"
			aff := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]
			switch {
			case pv.Spec.Local == nil || pv.Spec.Local.Path != wantPath:
				t.Errorf("local source %+v, want path %s", pv.Spec.Local, wantPath)
			case aff.Key != corev1.LabelHostname || !slices.Equal(aff.Values, []string{tc.wantNode + "-host"}):
				t.Errorf("node affinity %+v", aff)
			case pv.Labels[localpath.NodeLabel] != tc.wantNode:
				t.Errorf("labels %v", pv.Labels)
			case pv.Annotations[AnnProvisionedBy] != localpath.Provisioner:
				t.Errorf("annotations %v", pv.Annotations)
			case !slices.Equal(pv.Finalizers, []string{localpath.CleanupFinalizer}):
				t.Errorf("finalizers %v", pv.Finalizers)
			case pv.Spec.PersistentVolumeReclaimPolicy != tc.reclaim:
				t.Errorf("reclaim %s, want %s", pv.Spec.PersistentVolumeReclaimPolicy, tc.reclaim)
			case !pv.Spec.Capacity.Storage().Equal(resource.MustParse("1Gi")):
				t.Errorf("capacity %v", pv.Spec.Capacity)
			case pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != "claim-uid":
				t.Errorf("claimRef %+v", pv.Spec.ClaimRef)
			case pv.Status.Phase != corev1.VolumeBound:
				t.Errorf("phase %s", pv.Status.Phase)
			}
			pvc := e.pvc(t)
			if pvc.Spec.VolumeName != pv.Name || pvc.Status.Phase != corev1.ClaimBound || pvc.Annotations[AnnStorageProvisioner] != localpath.Provisioner {
				t.Fatalf("claim not bound: %q %s %v", pvc.Spec.VolumeName, pvc.Status.Phase, pvc.Annotations)
			}
		})
	}
}

func TestReclaim(t *testing.T) {
	provisioned := func(v *corev1.PersistentVolume) {
		v.Annotations = map[string]string{AnnProvisionedBy: localpath.Provisioner}
		v.Spec.HostPath, v.Spec.Local = nil, &corev1.LocalVolumeSource{Path: "/d/x"}
	}
	policy := func(p corev1.PersistentVolumeReclaimPolicy) func(*corev1.PersistentVolume) {
		return func(v *corev1.PersistentVolume) { v.Spec.PersistentVolumeReclaimPolicy = p }
	}
	bound := func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeBound }
	cases := []struct {
		name      string
		pv        *corev1.PersistentVolume
		claim     *corev1.PersistentVolumeClaim // in the API only, not in the cache
		wantPhase corev1.PersistentVolumePhase  // "" = deleted
		wantMsg   string
		event     string
	}{
		{name: "retain", pv: volume("v", "1Gi", "", boundTo("claim-uid"), bound), wantPhase: corev1.VolumeReleased},
		{name: "delete provisioned", pv: volume("v", "1Gi", "", boundTo("claim-uid"), bound, provisioned, policy(corev1.PersistentVolumeReclaimDelete))},
		{name: "delete without deleter", pv: volume("v", "1Gi", "", boundTo("claim-uid"), bound, policy(corev1.PersistentVolumeReclaimDelete)),
			wantPhase: corev1.VolumeFailed, wantMsg: `error getting deleter volume plugin for volume "v": no deletable volume plugin matched`,
			event: `Warning VolumeFailedDelete error getting deleter volume plugin for volume "v": no deletable volume plugin matched`},
		{name: "external provisioner's volume waits", pv: volume("v", "1Gi", "", boundTo("claim-uid"), bound, policy(corev1.PersistentVolumeReclaimDelete),
			func(v *corev1.PersistentVolume) {
				v.Annotations = map[string]string{AnnProvisionedBy: "example.com/nfs"}
			}),
			wantPhase: corev1.VolumeReleased},
		{name: "recreated claim does not own it", pv: volume("v", "1Gi", "", boundTo("old-uid"), bound),
			claim: claim("1Gi", ""), wantPhase: corev1.VolumeReleased},
		{name: "claim only in the API keeps it bound", pv: volume("v", "1Gi", "", boundTo("claim-uid"), bound, provisioned, policy(corev1.PersistentVolumeReclaimDelete)),
			claim: claim("1Gi", "", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "v" }), wantPhase: corev1.VolumeBound},
		{name: "free volume becomes available", pv: volume("v", "1Gi", "", func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumePending }),
			wantPhase: corev1.VolumeAvailable},
		{name: "user pre-bound volume is available", pv: volume("v", "1Gi", "", boundTo(""), func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumePending }),
			wantPhase: corev1.VolumeAvailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.pv)
			if tc.claim != nil {
				if _, err := e.cs.CoreV1().PersistentVolumeClaims("ns").Create(context.Background(), tc.claim, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.c.syncVolume(context.Background(), "v"); err != nil {
				t.Fatal(err)
			}
			pv, err := e.cs.CoreV1().PersistentVolumes().Get(context.Background(), "v", metav1.GetOptions{})
			if tc.wantPhase == "" {
				if err == nil {
					t.Fatalf("volume not deleted: phase %s", pv.Status.Phase)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pv.Status.Phase != tc.wantPhase || pv.Status.Message != tc.wantMsg {
				t.Fatalf("phase %s message %q, want %s %q", pv.Status.Phase, pv.Status.Message, tc.wantPhase, tc.wantMsg)
			}
			if tc.event != "" && !hasEvent(e.drainEvents(), tc.event) {
				t.Errorf("no event %q", tc.event)
			}
		})
	}
}

func TestLostClaim(t *testing.T) {
	c := claim("1Gi", "", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = "v"
		c.Annotations = map[string]string{AnnBindCompleted: "yes"}
		c.Status.Phase = corev1.ClaimBound
	})
	e := newEnv(t, c)
	if err := e.c.syncClaim(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	if got := e.pvc(t).Status.Phase; got != corev1.ClaimLost {
		t.Fatalf("phase %s, want Lost", got)
	}
	if !hasEvent(e.drainEvents(), "Warning ClaimLost Bound claim has lost reference to PersistentVolume") {
		t.Error("no ClaimLost event")
	}

	// Pre-bound by a user to a volume that does not exist yet: Pending, not Lost.
	c2 := claim("1Gi", "", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "later" })
	e = newEnv(t, c2)
	if err := e.c.syncClaim(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	if got := e.pvc(t).Status.Phase; got != corev1.ClaimPending {
		t.Fatalf("phase %s, want Pending", got)
	}
}

func TestExpansion(t *testing.T) {
	pv := volume("pvc-claim-uid", "1Gi", "grow", boundTo("claim-uid"), func(v *corev1.PersistentVolume) {
		v.Annotations = map[string]string{AnnProvisionedBy: localpath.Provisioner}
		v.Status.Phase = corev1.VolumeBound
	})
	pvc := claim("3Gi", "grow", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = pv.Name
		c.Annotations = map[string]string{AnnBindCompleted: "yes"}
		c.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: pv.Spec.AccessModes, Capacity: pv.Spec.Capacity.DeepCopy()}
	})
	for _, allow := range []bool{true, false} {
		sc := class("grow", localpath.Provisioner, storagev1.VolumeBindingWaitForFirstConsumer, func(sc *storagev1.StorageClass) { sc.AllowVolumeExpansion = ptr(allow) })
		e := newEnv(t, sc, pv.DeepCopy(), pvc.DeepCopy())
		if err := e.c.syncClaim(context.Background(), "ns/data"); err != nil {
			t.Fatal(err)
		}
		want := "1Gi"
		if allow {
			want = "3Gi"
		}
		gotPV := e.pv(t, pv.Name).Spec.Capacity[corev1.ResourceStorage]
		got := e.pvc(t)
		gotClaim := got.Status.Capacity[corev1.ResourceStorage]
		if gotPV.String() != want || gotClaim.String() != want {
			t.Fatalf("allow=%v: volume %s, claim status %s, want %s", allow, gotPV.String(), gotClaim.String(), want)
		}
		if allow {
			if len(got.Status.AllocatedResourceStatuses) != 0 || got.Status.AllocatedResources.Storage().String() != "3Gi" {
				t.Errorf("allocated %v %v", got.Status.AllocatedResources, got.Status.AllocatedResourceStatuses)
			}
			if !hasEvent(e.drainEvents(), "Normal VolumeResizeSuccessful") {
				t.Error("no VolumeResizeSuccessful event")
			}
		}
	}
}

func TestOrphanedCleanupFinalizer(t *testing.T) {
	now := metav1.Now()
	deleting := func(v *corev1.PersistentVolume) {
		v.DeletionTimestamp = &now
		v.Finalizers = []string{localpath.CleanupFinalizer}
		v.Labels = map[string]string{localpath.NodeLabel: "n1"}
	}
	for _, nodeExists := range []bool{true, false} {
		objs := []runtime.Object{volume("v", "1Gi", "", deleting)}
		if nodeExists {
			objs = append(objs, node("n1", false, "/d"))
		}
		e := newEnv(t, objs...)
		if err := e.c.syncVolume(context.Background(), "v"); err != nil {
			t.Fatal(err)
		}
		kept := slices.Contains(e.pv(t, "v").Finalizers, localpath.CleanupFinalizer)
		if kept != nodeExists {
			t.Fatalf("node exists %v: finalizer kept %v", nodeExists, kept)
		}
	}
}

// A claim made with no class while no class was the default gets the default once there is one,
// and then binds as a claim of that class would; a claim pinned to "no class" keeps it.
func TestRetroactiveDefaultClass(t *testing.T) {
	noClass := func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = nil }
	def := class("standard", "example.com/nfs", storagev1.VolumeBindingImmediate, func(sc *storagev1.StorageClass) {
		sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	})
	notDefault := class("other", "example.com/nfs", storagev1.VolumeBindingImmediate)
	cases := []struct {
		name      string
		objs      []runtime.Object
		wantClass *string
	}{
		{"no default class: left unset", []runtime.Object{claim("1Gi", "", noClass), notDefault}, nil},
		{"default class: assigned", []runtime.Object{claim("1Gi", "", noClass), notDefault, def}, ptr("standard")},
		{"class set to \"\" on purpose: kept", []runtime.Object{claim("1Gi", ""), def}, ptr("")},
		{"beta annotation names the class: kept", []runtime.Object{claim("1Gi", "", noClass, func(c *corev1.PersistentVolumeClaim) {
			c.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: ""}
		}), def}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.objs...)
			if err := e.c.syncClaim(context.Background(), "ns/data"); err != nil {
				t.Fatal(err)
			}
			got := e.pvc(t).Spec.StorageClassName
			if (got == nil) != (tc.wantClass == nil) || (got != nil && *got != *tc.wantClass) {
				t.Errorf("storageClassName %v, want %v", deref(got), deref(tc.wantClass))
			}
		})
	}

	// Once assigned, the next sync binds it to a volume of that class.
	e := newEnv(t, claim("1Gi", "", noClass), def, volume("v1", "1Gi", "standard"))
	must(t, e.c.syncClaim(context.Background(), "ns/data"))
	e.refresh(t)
	must(t, e.c.syncClaim(context.Background(), "ns/data"))
	if got := e.pvc(t).Spec.VolumeName; got != "v1" {
		t.Errorf("claim bound to %q after its class was assigned, want v1", got)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *s)
}
