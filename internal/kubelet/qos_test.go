package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestPodCgroupAndQOSClass(t *testing.T) {
	h := newHarness(t)
	p := testPod("g", v1.RestartPolicyAlways, nil, "sleep 60")
	q := v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m"), v1.ResourceMemory: resource.MustParse("32Mi")}
	p.Spec.Containers[0].Resources = v1.ResourceRequirements{Requests: q, Limits: q}
	w := h.create(t, p)
	st := h.until(t, w, "Running", func(st v1.PodStatus) bool { return st.Phase == v1.PodRunning })
	if st.QOSClass != v1.PodQOSGuaranteed {
		t.Errorf("qosClass %q", st.QOSClass)
	}
	sbs, _ := h.rt.ListPodSandbox(context.Background(), nil)
	if len(sbs) != 1 || sbs[0].CgroupParent != "/skiff-n1/kubepods/poduid-g" {
		t.Fatalf("sandboxes %+v", sbs)
	}
	dir := filepath.Join(h.k.cfg.DataDir, "cgroup")
	for f, want := range map[string]string{
		"cpu/skiff-n1/kubepods/poduid-g/cpu.shares":               "512",
		"cpu/skiff-n1/kubepods/poduid-g/cpu.cfs_quota_us":         "50000",
		"memory/skiff-n1/kubepods/poduid-g/memory.limit_in_bytes": "33554432",
	} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q (%v), want %q", f, b, err, want)
		}
	}
	w.setGone(w.pod)
	if _, err := h.k.syncWorker(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cpu/skiff-n1/kubepods/poduid-g")); !os.IsNotExist(err) {
		t.Errorf("the pod cgroup outlived the pod: %v", err)
	}
}
