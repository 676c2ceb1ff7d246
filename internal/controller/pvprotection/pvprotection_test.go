package pvprotection

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestSync(t *testing.T) {
	cases := []struct {
		name          string
		deleting      bool
		phase         corev1.PersistentVolumePhase
		finalizers    []string
		wantUpdate    bool
		wantFinalizer bool
	}{
		{"live, protected", false, corev1.VolumeBound, []string{Finalizer}, false, true},
		{"live, unprotected gets it", false, corev1.VolumeAvailable, nil, true, true},
		{"deleting, bound", true, corev1.VolumeBound, []string{Finalizer}, false, true},
		{"deleting, released", true, corev1.VolumeReleased, []string{Finalizer}, true, false},
		{"deleting, available", true, corev1.VolumeAvailable, []string{"a/b", Finalizer}, true, false},
		{"deleting, failed", true, corev1.VolumeFailed, []string{Finalizer}, true, false},
		{"deleting, pending", true, corev1.VolumePending, []string{Finalizer}, true, false},
		{"deleting, no finalizer", true, corev1.VolumeReleased, []string{"a/b"}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1", ResourceVersion: "3", Finalizers: tc.finalizers},
				Status: corev1.PersistentVolumeStatus{Phase: tc.phase}}
			if tc.deleting {
				pv.DeletionTimestamp = &metav1.Time{}
			}
			client := fake.NewSimpleClientset(pv)
			f := informers.NewSharedInformerFactory(client, 0)
			c, err := New(Config{Client: client, Informers: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Core().V1().PersistentVolumes().Informer().GetStore().Add(pv); err != nil {
				t.Fatal(err)
			}
			client.ClearActions()
			if err := c.sync(context.Background(), "pv1"); err != nil {
				t.Fatal(err)
			}
			got := pv
			updates := 0
			for _, a := range client.Actions() {
				if u, ok := a.(k8stesting.UpdateAction); ok {
					got = u.GetObject().(*corev1.PersistentVolume)
					updates++
				}
			}
			if (updates > 0) != tc.wantUpdate {
				t.Fatalf("updates = %d, want update %v", updates, tc.wantUpdate)
			}
			if has := slices.Contains(got.Finalizers, Finalizer); has != tc.wantFinalizer {
				t.Errorf("finalizer present = %v, want %v (%v)", has, tc.wantFinalizer, got.Finalizers)
			}
			if slices.Contains(tc.finalizers, "a/b") && !slices.Contains(got.Finalizers, "a/b") {
				t.Error("other finalizer lost")
			}
		})
	}
}
