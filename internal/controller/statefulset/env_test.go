package statefulset

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// env is a controller over client-go's fake clientset whose informer stores the test fills:
// refresh copies what the "API" holds into the stores, as informers would catch up.
type env struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	rec     *record.FakeRecorder
	now     time.Time
	uid     int
}

func newEnv(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	e := &env{t: t, client: fake.NewClientset(objs...), rec: record.NewFakeRecorder(1000), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	// The fake stores what it is given; the server would give new objects a uid and a phase.
	e.client.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.CreateAction).GetObject()
		m, _ := obj.(metav1.Object)
		if m != nil && m.GetUID() == "" {
			e.uid++
			m.SetUID(types.UID(fmt.Sprintf("uid-%d", e.uid)))
			m.SetCreationTimestamp(metav1.NewTime(e.now))
		}
		if p, ok := obj.(*corev1.Pod); ok && p.Status.Phase == "" {
			p.Status.Phase = corev1.PodPending
		}
		return false, nil, nil
	})
	e.factory = informers.NewSharedInformerFactory(e.client, 0)
	c, err := New(Config{Client: e.client, Informers: e.factory, Recorder: e.rec,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	e.refresh()
	return e
}

// refresh replaces every store's content with what the fake API holds.
func (e *env) refresh() {
	e.t.Helper()
	ctx := context.Background()
	sets, _ := e.client.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	pods, _ := e.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	pvcs, _ := e.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	revs, _ := e.client.AppsV1().ControllerRevisions("").List(ctx, metav1.ListOptions{})
	replace := func(s cache.Store, items []any) {
		if err := s.Replace(items, ""); err != nil {
			e.t.Fatal(err)
		}
	}
	var l []any
	for i := range sets.Items {
		l = append(l, &sets.Items[i])
	}
	replace(e.factory.Apps().V1().StatefulSets().Informer().GetStore(), l)
	l = nil
	for i := range pods.Items {
		l = append(l, &pods.Items[i])
	}
	replace(e.factory.Core().V1().Pods().Informer().GetStore(), l)
	l = nil
	for i := range pvcs.Items {
		l = append(l, &pvcs.Items[i])
	}
	replace(e.factory.Core().V1().PersistentVolumeClaims().Informer().GetStore(), l)
	l = nil
	for i := range revs.Items {
		l = append(l, &revs.Items[i])
	}
	replace(e.factory.Apps().V1().ControllerRevisions().Informer().GetStore(), l)
}

// sync refreshes the stores and syncs the set once.
func (e *env) sync(name string) {
	e.t.Helper()
	e.refresh()
	if err := e.c.sync(context.Background(), "default/"+name); err != nil {
		e.t.Fatalf("sync %s: %v", name, err)
	}
}

func (e *env) set(name string) *appsv1.StatefulSet {
	e.t.Helper()
	s, err := e.client.AppsV1().StatefulSets("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) updateSet(s *appsv1.StatefulSet) {
	e.t.Helper()
	s.Generation++
	if _, err := e.client.AppsV1().StatefulSets("default").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// podNames lists the pods the API holds, by name.
func (e *env) podNames() []string {
	e.t.Helper()
	pods, _ := e.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	var out []string
	for _, p := range pods.Items {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func (e *env) pod(name string) *corev1.Pod {
	e.t.Helper()
	p, err := e.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// ready marks pods Running and Ready since now, as a node agent would.
func (e *env) ready(names ...string) {
	e.t.Helper()
	for _, n := range names {
		p := e.pod(n)
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(e.now)}}
		if _, err := e.client.CoreV1().Pods("default").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) setPhase(name string, phase corev1.PodPhase) {
	e.t.Helper()
	p := e.pod(name)
	p.Status.Phase = phase
	p.Status.Conditions = nil
	if _, err := e.client.CoreV1().Pods("default").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deletePod(name string) {
	e.t.Helper()
	if err := e.client.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// settle syncs until the pods' names stop changing, marking every pod ready each time: a set run
// to its steady state by a node agent that readies everything.
func (e *env) settle(name string) {
	e.t.Helper()
	for range 50 {
		before := fmt.Sprint(e.podNames(), e.revisionsOfPods())
		e.sync(name)
		e.ready(e.podNames()...)
		e.sync(name)
		if fmt.Sprint(e.podNames(), e.revisionsOfPods()) == before {
			return
		}
	}
	e.t.Fatal("set never settled")
}

func (e *env) revisionsOfPods() []string {
	pods, _ := e.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	var out []string
	for _, p := range pods.Items {
		out = append(out, p.Name+"@"+p.Labels["controller-revision-hash"])
	}
	sort.Strings(out)
	return out
}

func (e *env) events() []string {
	var out []string
	for {
		select {
		case ev := <-e.rec.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// webSet is the set most tests use: web, 3 replicas, serviceName nginx, one claim template.
func webSet(mut ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](3),
			ServiceName:         "nginx",
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0), MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
			RevisionHistoryLimit: ptr.To[int32](10),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1",
					VolumeMounts: []corev1.VolumeMount{{Name: "www", MountPath: "/www"}}}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			}},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
		},
	}
	for _, m := range mut {
		m(s)
	}
	return s
}
