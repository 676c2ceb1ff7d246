package pvcprotection

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func claim(deleting bool, finalizers ...string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns", UID: "c1",
		ResourceVersion: "5", Finalizers: finalizers}}
	if deleting {
		c.DeletionTimestamp = &metav1.Time{}
	}
	return c
}

func pod(name, node string, phase corev1.PodPhase, claimName string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("p-" + name)},
		Spec: corev1.PodSpec{NodeName: node, Volumes: []corev1.Volume{{Name: "v",
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName}}}}},
		Status: corev1.PodStatus{Phase: phase}}
}

func TestSync(t *testing.T) {
	cases := []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
		// cached pods are in the informer; live pods only in the API server.
		cached, live  []*corev1.Pod
		wantFinalizer bool
		wantUpdate    bool
	}{
		{"live claim keeps finalizer", claim(false, Finalizer), nil, nil, true, false},
		{"live claim without finalizer gets it", claim(false), nil, nil, true, true},
		{"deleting, unused", claim(true, Finalizer), nil, nil, false, true},
		{"deleting, used by running pod", claim(true, Finalizer), []*corev1.Pod{pod("a", "n1", corev1.PodRunning, "data")}, nil, true, false},
		{"deleting, used by pod only the API server knows", claim(true, Finalizer), nil, []*corev1.Pod{pod("a", "n1", corev1.PodPending, "data")}, true, false},
		{"deleting, pod finished", claim(true, Finalizer), []*corev1.Pod{pod("a", "n1", corev1.PodSucceeded, "data")}, nil, false, true},
		{"deleting, pod failed", claim(true, Finalizer), []*corev1.Pod{pod("a", "n1", corev1.PodFailed, "data")}, nil, false, true},
		{"deleting, pod not scheduled", claim(true, Finalizer), []*corev1.Pod{pod("a", "", corev1.PodPending, "data")}, nil, false, true},
		{"deleting, pod uses another claim", claim(true, Finalizer), []*corev1.Pod{pod("a", "n1", corev1.PodRunning, "other")}, nil, false, true},
		{"deleting, other finalizer stays", claim(true, "x/y", Finalizer), nil, nil, false, true},
		{"deleting without finalizer", claim(true, "x/y"), nil, nil, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.pvc}
			for _, p := range append(slices.Clone(tc.cached), tc.live...) {
				objs = append(objs, p)
			}
			client := fake.NewSimpleClientset(objs...)
			f := informers.NewSharedInformerFactory(client, 0)
			c, err := New(Config{Client: client, Informers: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Core().V1().PersistentVolumeClaims().Informer().GetStore().Add(tc.pvc); err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.cached {
				if err := f.Core().V1().Pods().Informer().GetStore().Add(p); err != nil {
					t.Fatal(err)
				}
			}
			client.ClearActions()
			if err := c.sync(context.Background(), "ns/data"); err != nil {
				t.Fatal(err)
			}
			var updated *corev1.PersistentVolumeClaim
			for _, a := range client.Actions() {
				if u, ok := a.(k8stesting.UpdateAction); ok {
					updated = u.GetObject().(*corev1.PersistentVolumeClaim)
				}
			}
			if (updated != nil) != tc.wantUpdate {
				t.Fatalf("updated = %v, want %v (actions %v)", updated != nil, tc.wantUpdate, client.Actions())
			}
			got := tc.pvc
			if updated != nil {
				got = updated
				for _, f := range tc.pvc.Finalizers {
					if f != Finalizer && !slices.Contains(got.Finalizers, f) {
						t.Errorf("finalizer %q lost", f)
					}
				}
			}
			if has := slices.Contains(got.Finalizers, Finalizer); has != tc.wantFinalizer {
				t.Errorf("finalizer present = %v, want %v", has, tc.wantFinalizer)
			}
		})
	}
}

func TestUsesEphemeral(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "pu"},
		Spec: corev1.PodSpec{NodeName: "n1", Volumes: []corev1.Volume{{Name: "scratch",
			VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	owned := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "web-scratch", Namespace: "ns",
		OwnerReferences: []metav1.OwnerReference{{UID: "pu", Controller: ptrTo(true), Kind: "Pod", Name: "web"}}}}
	stranger := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "web-scratch", Namespace: "ns"}}
	if !Uses(p, owned) {
		t.Error("pod does not use its own ephemeral claim")
	}
	if Uses(p, stranger) {
		t.Error("pod uses a same-named claim it does not own")
	}
}

func ptrTo[T any](v T) *T { return &v }
