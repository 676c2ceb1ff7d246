package quotausage

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestResourceOf(t *testing.T) {
	for name, want := range map[corev1.ResourceName]schema.GroupResource{
		"pods": PodsGR, "requests.cpu": PodsGR, "limits.memory": PodsGR, "hugepages-2Mi": PodsGR, "requests.example.com/gpu": PodsGR,
		"count/pods": PodsGR, "count/deployments.apps": {Group: "apps", Resource: "deployments"},
		"count/cronjobs.batch": {Group: "batch", Resource: "cronjobs"},
		"services.nodeports":   ServicesGR, "services": ServicesGR, "requests.storage": PVCsGR,
		"gold.storageclass.storage.k8s.io/requests.storage": PVCsGR, "configmaps": {Resource: "configmaps"},
	} {
		if got := ResourceOf(name); got != want {
			t.Errorf("ResourceOf(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestAdd(t *testing.T) {
	now := metav1.Now()
	pod := func(name, cpu string, phase corev1.PodPhase, deleting bool) runtime.Object {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
			Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			p.DeletionTimestamp = &now
		}
		return p
	}
	q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
		"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4"), "count/pods": resource.MustParse("10"),
		"services": resource.MustParse("5")}}}
	objs := []runtime.Object{
		pod("running", "500m", corev1.PodRunning, false),
		pod("pending", "1", corev1.PodPending, false),
		pod("done", "2", corev1.PodSucceeded, false), // stored, but holds no compute
		pod("going", "3", corev1.PodRunning, true),   // released when its deletion was admitted
	}
	used := corev1.ResourceList{}
	byRes := ByResource(q.Spec.Hard)
	Add(used, q, PodsGR, byRes[PodsGR], objs)
	for name, want := range map[corev1.ResourceName]string{"pods": "2", "requests.cpu": "1500m", "count/pods": "3"} {
		got := used[name]
		if got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("%s = %s, want %s", name, got.String(), want)
		}
	}
	if _, ok := used["services"]; ok {
		t.Errorf("pods counted as services: %v", used)
	}
}
