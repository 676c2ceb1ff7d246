package localpath

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestVolumePath(t *testing.T) {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "u1"}}
	cases := []struct {
		root, want string
		err        bool
	}{
		{"/var/lib/skiff/storage/local-path", "/var/lib/skiff/storage/local-path/pvc-u1_ns_data", false},
		{"/root/", "/root/pvc-u1_ns_data", false},
		{"relative", "", true},
		{"", "", true},
	}
	for _, tc := range cases {
		got, err := VolumePath(tc.root, c)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("VolumePath(%q) = %q, %v; want %q, err %v", tc.root, got, err, tc.want, tc.err)
		}
	}
	if _, err := VolumePath("/r", &corev1.PersistentVolumeClaim{}); err == nil {
		t.Error("claim without uid accepted")
	}
}

func TestNodeHostname(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	if NodeHostname(n) != "n1" {
		t.Fatal("fallback to name")
	}
	n.Labels = map[string]string{corev1.LabelHostname: "host-1"}
	if NodeHostname(n) != "host-1" {
		t.Fatal("label ignored")
	}
}

func TestDefaultClass(t *testing.T) {
	sc := DefaultClass()
	if sc.Name != "local-path" || sc.Provisioner != "skiff.dev/local-path" || *sc.VolumeBindingMode != "WaitForFirstConsumer" ||
		*sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || !*sc.AllowVolumeExpansion ||
		sc.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" {
		t.Fatalf("default class differs from the contract: %+v", sc)
	}
}
