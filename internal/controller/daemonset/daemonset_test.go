package daemonset

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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

type env struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	now     time.Time
	n       int
}

func newEnv(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	e := &env{t: t, client: fake.NewClientset(objs...), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	// What the server does on create: a name from generateName, a uid, a phase, a creation time.
	e.client.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		m, ok := a.(k8stesting.CreateAction).GetObject().(metav1.Object)
		if !ok || m.GetUID() != "" {
			return false, nil, nil
		}
		e.n++
		if m.GetName() == "" {
			m.SetName(fmt.Sprintf("%s%05d", m.GetGenerateName(), e.n))
		}
		m.SetUID(types.UID(fmt.Sprintf("uid-%d", e.n)))
		m.SetCreationTimestamp(metav1.NewTime(e.now.Add(time.Duration(e.n) * time.Millisecond)))
		if p, ok := m.(*corev1.Pod); ok && p.Status.Phase == "" {
			p.Status.Phase = corev1.PodPending
		}
		return false, nil, nil
	})
	e.factory = informers.NewSharedInformerFactory(e.client, 0)
	c, err := New(Config{Client: e.client, Informers: e.factory, Recorder: record.NewFakeRecorder(1000),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return e
}

func (e *env) refresh() {
	e.t.Helper()
	ctx := context.Background()
	var l []any
	put := func(s cache.Store) {
		if err := s.Replace(l, ""); err != nil {
			e.t.Fatal(err)
		}
		l = nil
	}
	sets, _ := e.client.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	for i := range sets.Items {
		l = append(l, &sets.Items[i])
	}
	put(e.factory.Apps().V1().DaemonSets().Informer().GetStore())
	pods, _ := e.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	for i := range pods.Items {
		l = append(l, &pods.Items[i])
	}
	put(e.factory.Core().V1().Pods().Informer().GetStore())
	nodes, _ := e.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	for i := range nodes.Items {
		l = append(l, &nodes.Items[i])
	}
	put(e.factory.Core().V1().Nodes().Informer().GetStore())
	revs, _ := e.client.AppsV1().ControllerRevisions("").List(ctx, metav1.ListOptions{})
	for i := range revs.Items {
		l = append(l, &revs.Items[i])
	}
	put(e.factory.Apps().V1().ControllerRevisions().Informer().GetStore())
}

// sync refreshes the stores, marks what the controller sent as seen (as the informer handlers
// would), and syncs.
func (e *env) sync() {
	e.t.Helper()
	e.refresh()
	e.c.expect.Delete("default/ds")
	if err := e.c.sync(context.Background(), "default/ds"); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) pods() []corev1.Pod {
	l, _ := e.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items
}

// placementOf maps node -> images of the pods there.
func (e *env) placementOf() map[string][]string {
	out := map[string][]string{}
	for _, p := range e.pods() {
		out[pinnedNode(&p)] = append(out[pinnedNode(&p)], p.Spec.Containers[0].Image)
	}
	return out
}

func (e *env) readyAll() {
	for _, p := range e.pods() {
		if p.Status.Phase == corev1.PodRunning {
			continue
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(e.now)}}
		if _, err := e.client.CoreV1().Pods("default").UpdateStatus(context.Background(), &p, metav1.UpdateOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) ds() *appsv1.DaemonSet {
	d, err := e.client.AppsV1().DaemonSets("default").Get(context.Background(), "ds", metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) updateDS(d *appsv1.DaemonSet) {
	d.Generation++
	if _, err := e.client.AppsV1().DaemonSets("default").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func node(name string, mut ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("node-" + name), Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, m := range mut {
		m(n)
	}
	return n
}

func taint(key string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect}) }
}

func daemonSet(mut ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	d := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "default", UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0))}},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
	for _, m := range mut {
		m(d)
	}
	return d
}

func TestPlacement(t *testing.T) {
	tests := []struct {
		name              string
		ds                *appsv1.DaemonSet
		node              *corev1.Node
		shouldRun, mayRun bool
	}{
		{"plain", daemonSet(), node("a"), true, true},
		{"unschedulable is tolerated", daemonSet(), node("a", taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)), true, true},
		{"not ready is tolerated", daemonSet(), node("a", taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)), true, true},
		{"memory pressure is tolerated", daemonSet(), node("a", taint(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"network unavailable needs host network", daemonSet(), node("a", taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), false, true},
		{"network unavailable with host network", daemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.HostNetwork = true }),
			node("a", taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), true, true},
		{"other NoSchedule", daemonSet(), node("a", taint("dedicated", corev1.TaintEffectNoSchedule)), false, true},
		{"other NoExecute", daemonSet(), node("a", taint("dedicated", corev1.TaintEffectNoExecute)), false, false},
		{"PreferNoSchedule ignored", daemonSet(), node("a", taint("dedicated", corev1.TaintEffectPreferNoSchedule)), true, true},
		{"tolerated by template", daemonSet(func(d *appsv1.DaemonSet) {
			d.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
		}), node("a", taint("dedicated", corev1.TaintEffectNoExecute)), true, true},
		{"node selector mismatch", daemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), node("a"), false, false},
		{"node selector match", daemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			node("a", func(n *corev1.Node) { n.Labels["disk"] = "ssd" }), true, true},
		{"affinity mismatch", daemonSet(func(d *appsv1.DaemonSet) {
			d.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}}}}}}}
		}), node("a"), false, false},
		{"nodeName elsewhere", daemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.NodeName = "b" }), node("a"), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run, stay := placement(tc.ds, tc.node)
			if run != tc.shouldRun || stay != tc.mayRun {
				t.Errorf("placement = %v/%v, want %v/%v", run, stay, tc.shouldRun, tc.mayRun)
			}
		})
	}
}

func TestOnePodPerEligibleNode(t *testing.T) {
	e := newEnv(t, daemonSet(), node("a"), node("b", taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)),
		node("c", taint("dedicated", corev1.TaintEffectNoSchedule)))
	e.sync()
	got := e.placementOf()
	if len(got) != 2 || len(got["a"]) != 1 || len(got["b"]) != 1 {
		t.Fatalf("placement %v", got)
	}
	p := e.pods()[0]
	if p.Spec.NodeName != "" {
		t.Errorf("pod bound by the controller to %s", p.Spec.NodeName)
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" {
		t.Errorf("affinity %+v", terms)
	}
	if len(p.Spec.Tolerations) != 6 || p.Labels["controller-revision-hash"] == "" || p.Labels["pod-template-generation"] != "1" {
		t.Errorf("tolerations %v labels %v", p.Spec.Tolerations, p.Labels)
	}
	// Again without the cache catching up: expectations hold further creates back.
	if err := e.c.sync(context.Background(), "default/ds"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.pods()); n != 2 {
		t.Errorf("a second sync with a stale cache made %d pods", n)
	}
	e.readyAll()
	e.sync()
	st := e.ds().Status
	want := appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2, UpdatedNumberScheduled: 2, ObservedGeneration: 1}
	if st.DesiredNumberScheduled != want.DesiredNumberScheduled || st.CurrentNumberScheduled != want.CurrentNumberScheduled ||
		st.NumberReady != 2 || st.NumberAvailable != 2 || st.UpdatedNumberScheduled != 2 || st.ObservedGeneration != 1 || st.NumberUnavailable != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestNodeChanges(t *testing.T) {
	e := newEnv(t, daemonSet(), node("a"), node("b"), node("c"))
	e.sync()
	e.readyAll()
	ctx := context.Background()
	// b is removed, c gets an untolerated NoExecute taint, d joins.
	if err := e.client.CoreV1().Nodes().Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c := node("c", taint("dedicated", corev1.TaintEffectNoExecute))
	if _, err := e.client.CoreV1().Nodes().Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CoreV1().Nodes().Create(ctx, node("d"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	got := e.placementOf()
	if len(got) != 2 || len(got["a"]) != 1 || len(got["d"]) != 1 {
		t.Fatalf("placement %v", got)
	}
	// A NoSchedule taint keeps the pod there, and status calls it not desired.
	a := node("a", taint("dedicated", corev1.TaintEffectNoSchedule))
	if _, err := e.client.CoreV1().Nodes().Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if got := e.placementOf(); len(got["a"]) != 1 {
		t.Errorf("pod left a NoSchedule node: %v", got)
	}
	if st := e.ds().Status; st.NumberMisscheduled != 1 || st.DesiredNumberScheduled != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestRollingUpdate(t *testing.T) {
	tests := []struct {
		name           string
		unavail, surge int32
		// firstStep is the node -> images after the first step of the update.
		firstStep map[string][]string
	}{
		{"maxUnavailable 1", 1, 0, map[string][]string{"a": {"agent:1"}, "b": {"agent:1"}}},
		{"maxUnavailable 2", 2, 0, map[string][]string{"a": {"agent:1"}}},
		{"maxSurge 1", 0, 1, map[string][]string{"a": {"agent:1"}, "b": {"agent:1"}, "c": {"agent:1", "agent:2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Names sort the nodes a, b, c; the controller walks them in lister order, so the
			// first step is checked by counts below, not by which node.
			e := newEnv(t, daemonSet(func(d *appsv1.DaemonSet) {
				d.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(tc.unavail))
				d.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(tc.surge))
			}), node("a"), node("b"), node("c"))
			e.sync()
			e.readyAll()
			e.sync()
			d := e.ds()
			d.Spec.Template.Spec.Containers[0].Image = "agent:2"
			e.updateDS(d)
			e.sync()
			if got, want := count(e.placementOf()), count(tc.firstStep); got != want {
				t.Fatalf("after the first step %v, want the shape of %v", e.placementOf(), tc.firstStep)
			}
			// Run to the end: every node ends with one agent:2 pod.
			for range 20 {
				e.readyAll()
				e.sync()
			}
			got := e.placementOf()
			for _, n := range []string{"a", "b", "c"} {
				if !slices.Equal(got[n], []string{"agent:2"}) {
					t.Errorf("node %s runs %v", n, got[n])
				}
			}
			if st := e.ds().Status; st.UpdatedNumberScheduled != 3 || st.NumberAvailable != 3 || st.ObservedGeneration != 2 {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// count describes a placement by how many nodes hold how many pods of each image.
func count(p map[string][]string) string {
	var shapes []string
	for _, imgs := range p {
		s := append([]string(nil), imgs...)
		sort.Strings(s)
		shapes = append(shapes, fmt.Sprint(s))
	}
	sort.Strings(shapes)
	return fmt.Sprint(shapes)
}

func TestOnDelete(t *testing.T) {
	e := newEnv(t, daemonSet(func(d *appsv1.DaemonSet) {
		d.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	}), node("a"))
	e.sync()
	e.readyAll()
	d := e.ds()
	d.Spec.Template.Spec.Containers[0].Image = "agent:2"
	e.updateDS(d)
	for range 3 {
		e.sync()
	}
	if got := e.placementOf(); !slices.Equal(got["a"], []string{"agent:1"}) {
		t.Errorf("OnDelete replaced the pod: %v", got)
	}
	if st := e.ds().Status; st.UpdatedNumberScheduled != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestFailedPodReplaced(t *testing.T) {
	e := newEnv(t, daemonSet(), node("a"))
	e.sync()
	p := e.pods()[0]
	p.Status.Phase = corev1.PodFailed
	if _, err := e.client.CoreV1().Pods("default").UpdateStatus(context.Background(), &p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if n := len(e.pods()); n != 0 {
		t.Fatalf("failed pod kept: %d pods", n)
	}
	e.sync()
	if pods := e.pods(); len(pods) != 1 || pods[0].UID == p.UID {
		t.Fatalf("no replacement: %v", pods)
	}
}
