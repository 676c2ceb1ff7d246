package informershare

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

func pod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two components' factories share one pod informer: both see the pods, one list watch serves
// them, and a component that stops takes its handlers with it while the other carries on.
func TestViewsShareOneInformer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(pod("a"))
	base := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(DropManagedFields)).Core().V1().Pods().Informer()
	shared := New(ctx, base)

	var seenA, seenB atomic.Int32
	counter := func(n *atomic.Int32) cache.ResourceEventHandlerFuncs {
		return cache.ResourceEventHandlerFuncs{AddFunc: func(any) { n.Add(1) }}
	}
	ctxA, cancelA := context.WithCancel(ctx)
	factoryA := informers.NewSharedInformerFactory(client, 0)
	shared.Use(factoryA, &corev1.Pod{})
	if _, err := factoryA.Core().V1().Pods().Informer().AddEventHandler(counter(&seenA)); err != nil {
		t.Fatal(err)
	}
	factoryB := informers.NewSharedInformerFactory(client, 0)
	shared.Use(factoryB, &corev1.Pod{})
	if _, err := factoryB.Core().V1().Pods().Informer().AddEventHandler(counter(&seenB)); err != nil {
		t.Fatal(err)
	}
	factoryA.Start(ctxA.Done())
	factoryB.Start(ctx.Done())
	for typ, ok := range factoryA.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("%v not synced", typ)
		}
	}
	waitFor(t, "both views to see pod a", func() bool { return seenA.Load() == 1 && seenB.Load() == 1 })
	got, err := factoryB.Core().V1().Pods().Lister().Pods("ns").Get("a")
	if err != nil {
		t.Fatal(err)
	}
	if got.ManagedFields != nil {
		t.Errorf("the owner's transform was not applied: %v", got.ManagedFields)
	}

	cancelA()
	factoryA.Shutdown() // waits for A's view to end its run and remove A's handler
	if _, err := client.CoreV1().Pods("ns").Create(ctx, pod("b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to see pod b", func() bool { return seenB.Load() == 2 })
	if n := seenA.Load(); n != 1 {
		t.Errorf("a stopped component's handler still ran: %d adds", n)
	}
	if base.IsStopped() {
		t.Error("the shared informer stopped with one of its readers")
	}
	watches := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "watch" {
			watches++
		}
	}
	if watches != 1 {
		t.Errorf("%d pod watches, want the shared one only", watches)
	}

	// A handler added through a view whose run is over is refused, not left on the shared informer.
	if _, err := factoryA.Core().V1().Pods().Informer().AddEventHandler(counter(&seenA)); err == nil {
		t.Error("a handler was added through a view whose run is over")
	}
	if _, err := client.CoreV1().Pods("ns").Create(ctx, pod("c"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to see pod c", func() bool { return seenB.Load() == 3 })
	if n := seenA.Load(); n != 1 {
		t.Errorf("a handler added after the view's run ran: %d adds", n)
	}
}
