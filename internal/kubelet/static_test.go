package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-dev/skiff/internal/kubelet/staticpod"
	"github.com/skiff-dev/skiff/internal/runtime"
)

func staticManifest(image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: kube-system
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "sleep 600"]
`, image)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// Generous: the suite runs beside e2e packages that load both cores.
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runningIn(h *harness, pod string) *runtime.ContainerStatus {
	cs, _ := h.rt.ListContainers(context.Background(), &runtime.ContainerFilter{
		State: runtime.ContainerRunning, Labels: map[string]string{labelPodName: pod}})
	if len(cs) != 1 {
		return nil
	}
	return cs[0]
}

func TestStaticPodsAndMirrorPods(t *testing.T) {
	manifests := t.TempDir()
	file := filepath.Join(manifests, "web.yaml")
	if err := os.WriteFile(file, []byte(staticManifest("busybox:1")), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.PodManifestPath = manifests })
	// The fake API assigns no uids; the real one does, and mirror recreation is seen by them.
	var n atomic.Int64
	h.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, k8sruntime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*v1.Pod)
		if p.UID == "" {
			p.UID = types.UID(fmt.Sprintf("mirror-%d", n.Add(1)))
		}
		return false, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); h.k.wg.Wait() })
	factory := informers.NewSharedInformerFactory(h.client, 0)
	inf := factory.Core().V1().Pods()
	var apiUp atomic.Bool
	h.k.lister = inf.Lister()
	h.k.synced = func() bool { return apiUp.Load() && inf.Informer().HasSynced() }
	h.k.runCtx = ctx

	// No API server yet: the static pod runs all the same.
	h.k.syncStaticPods()
	var first *runtime.ContainerStatus
	waitFor(t, "the static pod to run", func() bool { first = runningIn(h, "web-n1"); return first != nil })
	if l, _ := h.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Fatalf("a pod was created while the API was not synced: %v", l.Items)
	}
	if first.Labels[labelPodNamespace] != "kube-system" {
		t.Errorf("namespace label %q", first.Labels[labelPodNamespace])
	}

	// The API is there: the mirror pod appears, owned by the node, with the pod's status.
	node, err := h.client.CoreV1().Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { h.k.apiPodChanged(o.(*v1.Pod)) },
		UpdateFunc: func(_, o any) { h.k.apiPodChanged(o.(*v1.Pod)) },
		DeleteFunc: func(o any) {
			if p, ok := o.(*v1.Pod); ok && staticpod.IsMirror(p) {
				h.k.mirrorChanged(p)
			}
		},
	})
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced)
	apiUp.Store(true)
	mirror := func() *v1.Pod {
		p, err := h.client.CoreV1().Pods("kube-system").Get(ctx, "web-n1", metav1.GetOptions{})
		if err != nil {
			return nil
		}
		return p
	}
	var m *v1.Pod
	waitFor(t, "a running mirror pod", func() bool {
		m = mirror()
		return m != nil && m.Status.Phase == v1.PodRunning
	})
	static := h.k.static.get(types.UID(m.Annotations[staticpod.AnnotationMirror]))
	if static == nil || m.Annotations[staticpod.AnnotationSource] != "file" || m.Annotations[staticpod.AnnotationSeen] == "" {
		t.Fatalf("mirror annotations %v", m.Annotations)
	}
	if o := m.OwnerReferences; len(o) != 1 || o[0].Kind != "Node" || o[0].UID != node.UID || o[0].Controller == nil || !*o[0].Controller {
		t.Errorf("mirror owner %+v", o)
	}
	if m.Status.QOSClass != v1.PodQOSBestEffort || len(m.Status.ContainerStatuses) != 1 || !m.Status.ContainerStatuses[0].Ready {
		t.Errorf("mirror status %+v", m.Status)
	}
	if c, err := h.k.Container(ctx, "kube-system", "web-n1", "app", false); err != nil || c.ID != first.ID {
		t.Errorf("the kubelet API finds %v, %v for the mirror pod; want the static pod's container", c, err)
	}
	if ref, err := (apiPods{h.k}).Container("kube-system", "web-n1", "app"); err != nil || ref.ID != first.ID || ref.PodUID != string(static.UID) {
		t.Errorf("the kubelet API server finds %+v, %v for the mirror pod; want the static pod's container", ref, err)
	}

	// Deleted through the API, the mirror comes back; the pod itself never stopped.
	if err := h.client.CoreV1().Pods("kube-system").Delete(ctx, "web-n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mirror pod to be recreated", func() bool {
		m2 := mirror()
		return m2 != nil && m2.UID != m.UID && m2.Status.Phase == v1.PodRunning
	})
	if c := runningIn(h, "web-n1"); c == nil || c.ID != first.ID {
		t.Errorf("the static pod's container changed when its mirror was deleted: %v", c)
	}

	// A changed manifest replaces the pod and its mirror.
	if err := os.WriteFile(file, []byte(staticManifest("busybox:2")), 0o644); err != nil {
		t.Fatal(err)
	}
	h.k.syncStaticPods()
	waitFor(t, "the new content to run", func() bool {
		c := runningIn(h, "web-n1")
		return c != nil && c.Image == "busybox:2"
	})
	waitFor(t, "the mirror of the new content", func() bool {
		m2 := mirror()
		return m2 != nil && m2.Spec.Containers[0].Image == "busybox:2" && m2.Status.Phase == v1.PodRunning
	})
	waitFor(t, "the old pod's sandbox to go", func() bool {
		sbs, _ := h.rt.ListPodSandbox(ctx, nil)
		return len(sbs) == 1
	})

	// The file goes: so do the pod and its mirror.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	h.k.syncStaticPods()
	waitFor(t, "the pod and its mirror to go", func() bool {
		sbs, _ := h.rt.ListPodSandbox(ctx, nil)
		return len(sbs) == 0 && mirror() == nil
	})
}

func TestOrphanedMirrorIsDeleted(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PodManifestPath = t.TempDir() })
	h.k.syncStaticPods()
	ctx := context.Background()
	orphan := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "old-n1", Namespace: "default",
		Annotations: map[string]string{staticpod.AnnotationMirror: "abc", staticpod.AnnotationSource: "file"}}}
	plain := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-pod", Namespace: "default"}}
	for _, p := range []*v1.Pod{orphan, plain} {
		if _, err := h.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	h.k.deleteOrphanedMirrors(ctx, []*v1.Pod{orphan, plain})
	if _, err := h.client.CoreV1().Pods("default").Get(ctx, "old-n1", metav1.GetOptions{}); err == nil {
		t.Error("the orphaned mirror pod is still there")
	}
	if _, err := h.client.CoreV1().Pods("default").Get(ctx, "api-pod", metav1.GetOptions{}); err != nil {
		t.Errorf("a pod that is no mirror was touched: %v", err)
	}
}
