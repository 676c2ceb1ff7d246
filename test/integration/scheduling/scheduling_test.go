package scheduling

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testserver"
)

type env struct {
	t   *testing.T
	ctx context.Context
	cs  kubernetes.Interface
	ns  string
}

// start runs a server with the scheduler on, for this test alone (nodes are cluster-wide).
func start(t *testing.T) *env {
	t.Helper()
	s := testserver.Start(t, testserver.Options{Mutate: func(c *server.Config) { c.DisableScheduler = false }})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, cs: s.Client, ns: "sched"}
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// node creates a Ready node with cpu (milli) and 8Gi memory, labels and taints.
func (e *env) node(name string, milliCPU int64, labels map[string]string, taints ...corev1.Taint) {
	e.t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}, Spec: corev1.NodeSpec{Taints: taints}}
	for k, v := range labels {
		n.Labels[k] = v
	}
	n, err := e.cs.CoreV1().Nodes().Create(e.ctx, n, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(milliCPU, resource.DecimalSI),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	n.Status = corev1.NodeStatus{Capacity: rl, Allocatable: rl, Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
	if _, err := e.cs.CoreV1().Nodes().UpdateStatus(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) pod(name string, milliCPU int64, mutate ...func(*corev1.Pod)) *corev1.Pod {
	e.t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns, Labels: map[string]string{}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(milliCPU, resource.DecimalSI)}}}}}}
	for _, m := range mutate {
		m(p)
	}
	p, err := e.cs.CoreV1().Pods(e.ns).Create(e.ctx, p, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// bound waits until the pod has a node and returns it.
func (e *env) bound(name string) string {
	e.t.Helper()
	var node string
	err := wait.PollUntilContextTimeout(e.ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = p.Spec.NodeName
		return node != "", nil
	})
	if err != nil {
		e.t.Fatalf("pod %s never bound: %v", name, err)
	}
	return node
}

// unschedulable waits for PodScheduled=False/Unschedulable and returns its message.
func (e *env) unschedulable(name string) string {
	e.t.Helper()
	var msg string
	err := wait.PollUntilContextTimeout(e.ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" {
			return false, fmt.Errorf("pod %s was bound to %s", name, p.Spec.NodeName)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				msg = c.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		e.t.Fatalf("pod %s never marked unschedulable: %v", name, err)
	}
	return msg
}

// event waits for an event about the pod with reason and returns its message.
func (e *env) event(pod, reason string) string {
	e.t.Helper()
	var msg string
	err := wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := e.cs.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod).String()})
		if err != nil {
			return false, err
		}
		for _, ev := range evs.Items {
			if ev.Reason == reason {
				msg = ev.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		e.t.Fatalf("no %s event for %s: %v", reason, pod, err)
	}
	return msg
}

func TestResourceFitAcrossThreeNodes(t *testing.T) {
	e := start(t)
	for _, n := range []string{"n1", "n2", "n3"} {
		e.node(n, 2000, nil)
	}
	perNode := map[string]int{}
	for i := range 6 {
		e.pod(fmt.Sprintf("p%d", i), 1000)
	}
	for i := range 6 {
		perNode[e.bound(fmt.Sprintf("p%d", i))]++
	}
	for n, c := range perNode {
		if c != 2 {
			t.Errorf("node %s got %d pods, want 2 each: %v", n, c, perNode)
		}
	}
	if msg := e.event("p0", "Scheduled"); !strings.HasPrefix(msg, "Successfully assigned sched/p0 to n") {
		t.Errorf("Scheduled event: %q", msg)
	}
	e.pod("extra", 1000)
	want := "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	if msg := e.unschedulable("extra"); msg != want {
		t.Errorf("condition message:\n got %q\nwant %q", msg, want)
	}
	if msg := e.event("extra", "FailedScheduling"); msg != want {
		t.Errorf("FailedScheduling event:\n got %q\nwant %q", msg, want)
	}
	// Freeing room (deleting a bound pod, as its kubelet would finish) schedules it: an event, not a poll.
	if err := e.cs.CoreV1().Pods(e.ns).Delete(e.ctx, "p0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	e.bound("extra")
}

func TestTaintMessageAndNodeAdded(t *testing.T) {
	e := start(t)
	e.node("small-1", 1000, nil)
	e.node("small-2", 1000, nil)
	e.node("tainted", 8000, nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})
	e.pod("big", 2000)
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu. " +
		"preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
	if msg := e.unschedulable("big"); msg != want {
		t.Errorf("message:\n got %q\nwant %q", msg, want)
	}
	// A node that fits arrives: the pod is retried at once.
	start := time.Now()
	e.node("large", 4000, nil)
	if n := e.bound("big"); n != "large" {
		t.Errorf("bound to %s, want large", n)
	}
	t.Logf("bound %v after the node appeared", time.Since(start))
	// Tolerating the taint lets a pod onto the tainted node.
	e.pod("tolerant", 6000, func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	})
	if n := e.bound("tolerant"); n != "tainted" {
		t.Errorf("tolerant pod on %s", n)
	}
	// Pods for another scheduler are left alone.
	e.pod("other", 1, func(p *corev1.Pod) { p.Spec.SchedulerName = "other-scheduler" })
	time.Sleep(500 * time.Millisecond)
	if p, _ := e.cs.CoreV1().Pods(e.ns).Get(e.ctx, "other", metav1.GetOptions{}); p.Spec.NodeName != "" || len(p.Status.Conditions) != 0 {
		t.Errorf("pod of another scheduler was touched: node %q conditions %v", p.Spec.NodeName, p.Status.Conditions)
	}
}

func TestAffinityAndAntiAffinity(t *testing.T) {
	e := start(t)
	e.node("a", 4000, map[string]string{corev1.LabelTopologyZone: "z1"})
	e.node("b", 4000, map[string]string{corev1.LabelTopologyZone: "z1"})
	e.node("c", 4000, map[string]string{corev1.LabelTopologyZone: "z2"})
	anti := func(p *corev1.Pod) {
		p.Labels["app"] = "web"
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
			{TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}
	}
	seen := map[string]bool{}
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		e.pod(name, 100, anti)
		n := e.bound(name)
		if seen[n] {
			t.Errorf("%s shares node %s with another web pod", name, n)
		}
		seen[n] = true
	}
	e.pod("web-3", 100, anti)
	if msg := e.unschedulable("web-3"); !strings.HasPrefix(msg, "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.") {
		t.Errorf("message %q", msg)
	}
	// Affinity: a cache pod must share the zone of the db pod.
	e.pod("db", 100, func(p *corev1.Pod) {
		p.Labels["app"] = "db"
		p.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "c"}
	})
	if n := e.bound("db"); n != "c" {
		t.Fatalf("db on %s", n)
	}
	e.pod("cache", 100, func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
			{TopologyKey: corev1.LabelTopologyZone, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
	})
	if n := e.bound("cache"); n != "c" {
		t.Errorf("cache on %s, want c (zone z2 with the db)", n)
	}
}

func TestTopologySpread(t *testing.T) {
	e := start(t)
	for i, z := range []string{"z1", "z1", "z1", "z2"} {
		e.node(fmt.Sprintf("n%d", i), 8000, map[string]string{corev1.LabelTopologyZone: z})
	}
	zoneOf := map[string]string{"n0": "z1", "n1": "z1", "n2": "z1", "n3": "z2"}
	perZone := map[string]int{}
	for i := range 6 {
		name := fmt.Sprintf("s%d", i)
		e.pod(name, 100, func(p *corev1.Pod) {
			p.Labels["app"] = "spread"
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
				WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}}}}
		})
		perZone[zoneOf[e.bound(name)]]++
	}
	if perZone["z1"] != 3 || perZone["z2"] != 3 {
		t.Errorf("per zone %v, want 3 and 3 although z1 has three times the nodes", perZone)
	}
}

func TestPreemption(t *testing.T) {
	e := start(t)
	for _, pc := range []schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "low"}, Value: 10},
		{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000},
		{ObjectMeta: metav1.ObjectMeta{Name: "high-never"}, Value: 1000, PreemptionPolicy: ptr.To(corev1.PreemptNever)},
	} {
		if _, err := e.cs.SchedulingV1().PriorityClasses().Create(e.ctx, &pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.node("only", 2000, nil)
	e.pod("victim", 1500, func(p *corev1.Pod) { p.Spec.PriorityClassName = "low" })
	e.pod("keeper", 500, func(p *corev1.Pod) { p.Spec.PriorityClassName = "high" })
	e.bound("victim")
	e.bound("keeper")

	e.pod("never", 1500, func(p *corev1.Pod) { p.Spec.PriorityClassName = "high-never" })
	if msg := e.unschedulable("never"); msg != "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never." {
		t.Errorf("never: %q", msg)
	}

	e.pod("urgent", 1500, func(p *corev1.Pod) { p.Spec.PriorityClassName = "high" })
	// The victim is marked and deleted gracefully; the preemptor is nominated to the node.
	var victim *corev1.Pod
	err := wait.PollUntilContextTimeout(e.ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, "victim", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		victim = p
		return p.DeletionTimestamp != nil, nil
	})
	if err != nil {
		t.Fatalf("victim never deleted: %v", err)
	}
	found := false
	for _, c := range victim.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Reason == corev1.PodReasonPreemptionByScheduler && c.Status == corev1.ConditionTrue {
			found = true
		}
	}
	if !found {
		t.Errorf("victim conditions %v lack DisruptionTarget/PreemptionByScheduler", victim.Status.Conditions)
	}
	if msg := e.event("victim", "Preempted"); !strings.HasPrefix(msg, "Preempted by pod ") || !strings.HasSuffix(msg, " on node only") {
		t.Errorf("Preempted event %q", msg)
	}
	err = wait.PollUntilContextTimeout(e.ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, "urgent", metav1.GetOptions{})
		return err == nil && p.Status.NominatedNodeName == "only", err
	})
	if err != nil {
		t.Fatalf("urgent never nominated: %v", err)
	}
	// The node agent would finish the victim's deletion; with a fake node the test does.
	if err := e.cs.CoreV1().Pods(e.ns).Delete(e.ctx, "victim", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if n := e.bound("urgent"); n != "only" {
		t.Errorf("urgent on %s", n)
	}
	if p, _ := e.cs.CoreV1().Pods(e.ns).Get(e.ctx, "keeper", metav1.GetOptions{}); p.DeletionTimestamp != nil {
		t.Error("the high-priority keeper was preempted")
	}
	// Leader election: the scheduler holds its Lease.
	lease, err := e.cs.CoordinationV1().Leases("kube-system").Get(e.ctx, "kube-scheduler", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Errorf("lease kube-system/kube-scheduler: %v %+v", err, lease)
	}
}
