package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/controller/statefulset"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/test/fakenodes"
)

const stsReplicas = 10

// BenchmarkStatefulSetOrderedReady: a StatefulSet of 10 replicas, OrderedReady, one claim each,
// from the create to all 10 pods Ready, on an in-process API server with the StatefulSet
// controller and fake nodes that bind pods and report them Ready at once. This is the control
// plane's share of an ordered start (no containers, no volume binding). The floor is the same
// chain of writes with no controller and no watches: per ordinal, create the claim, create the
// pod, bind it and report it Ready, one after the other, as the ordering rules force.
func BenchmarkStatefulSetOrderedReady(b *testing.B) {
	s, err := testserver.StartServer(testserver.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Stop)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	client := s.Client
	factory := informers.NewSharedInformerFactory(client, 0)
	// Events go to the API as in a real controller manager: they are part of the write load.
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	b.Cleanup(broadcaster.Shutdown)
	c, err := statefulset.New(statefulset.Config{Client: client, Informers: factory,
		Recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "statefulset-controller"}),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	factory.Start(ctx.Done())
	go c.Run(ctx, 5)
	if _, err := fakenodes.Start(ctx, client, fakenodes.Options{Nodes: []string{"bench-node"}}); err != nil {
		b.Fatal(err)
	}

	var total, floor time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ns := fmt.Sprintf("sts-%d", i)
		newNamespace(b, client, ns)
		start := time.Now()
		if _, err := client.AppsV1().StatefulSets(ns).Create(ctx, benchSet(ns), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		waitReady(b, client, ns)
		total += time.Since(start)

		fns := fmt.Sprintf("floor-%d", i)
		newNamespace(b, client, fns)
		start = time.Now()
		writeChain(b, client, fns)
		floor += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(ms(total/time.Duration(b.N)), "create-to-ready-ms")
	b.ReportMetric(ms(floor/time.Duration(b.N)), "write-floor-ms")
	b.ReportMetric(ms(total/time.Duration(b.N)/stsReplicas), "ms/ordinal")
}

func benchSet(ns string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](stsReplicas),
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{benchClaim("data")},
		},
	}
}

func benchClaim(name string) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	}
}

func waitReady(b *testing.B, client kubernetes.Interface, ns string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		s, err := client.AppsV1().StatefulSets(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err == nil && s.Status.ReadyReplicas == stsReplicas {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	s, _ := client.AppsV1().StatefulSets(ns).Get(context.Background(), "web", metav1.GetOptions{})
	pods, _ := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	var states []string
	for _, p := range pods.Items {
		states = append(states, fmt.Sprintf("%s node=%q phase=%s", p.Name, p.Spec.NodeName, p.Status.Phase))
	}
	b.Fatalf("%s: StatefulSet not ready in 60 s: status %+v, pods %v", ns, s.Status, states)
}

// writeChain makes the writes of an ordered start directly, each after the previous returns.
func writeChain(b *testing.B, client kubernetes.Interface, ns string) {
	ctx := context.Background()
	for i := range stsReplicas {
		claim := benchClaim(fmt.Sprintf("data-web-%d", i))
		claim.Namespace = ns
		if _, err := client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &claim, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		// Another scheduler's pod, so that the fake nodes leave the binding to this chain.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: ns},
			Spec: corev1.PodSpec{SchedulerName: "floor", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		p, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := client.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name},
			Target: corev1.ObjectReference{Kind: "Node", Name: "floor-node"}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		status := fmt.Sprintf(`{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":%q}]}}`,
			time.Now().UTC().Format(time.RFC3339))
		if _, err := client.CoreV1().Pods(ns).Patch(ctx, p.Name, types.MergePatchType, []byte(status), metav1.PatchOptions{}, "status"); err != nil {
			b.Fatal(err)
		}
	}
}
