package workloads

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/testcluster"
	"github.com/skiff-dev/skiff/test/images/testimages"
)

// TestWorkloads runs each workload kind on one two-node cluster, each scenario in a namespace
// of its own.
func TestWorkloads(t *testing.T) {
	c := startCluster(t, 2, nil, nil)
	t.Run("Deployment", func(t *testing.T) { testDeployment(t, c) })
	t.Run("StatefulSet", func(t *testing.T) { testStatefulSet(t, c) })
	t.Run("DaemonSet", func(t *testing.T) { testDaemonSet(t, c) })
	t.Run("Job", func(t *testing.T) { testJob(t, c) })
	t.Run("CascadingDelete", func(t *testing.T) { testCascadingDelete(t, c) })
	t.Run("NamespaceDelete", func(t *testing.T) { testNamespaceDelete(t, c) })
}

// testDeployment applies the example nginx Deployment (with the local nginx image), scales it,
// rolls it to another image and back, and checks on every pod change that the rollout keeps
// replicas - maxUnavailable pods ready and never creates a pod of the template it leaves.
func testDeployment(t *testing.T, c *testcluster.Cluster) {
	ns := namespace(t, c, "deploy")
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "nginx-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	manifest, n := c.Images.Substitute(src)
	if n != 1 {
		t.Fatalf("substituted %d images in the example, want 1", n)
	}
	nginx, testserver := c.Images.Ref(testimages.Nginx), c.Images.Ref(testimages.Testserver)
	w := watchPods(t, c.Client, ns, "app=nginx")
	kubectl(t, c, "apply", "-n", ns, "-f", writeManifest(t, "nginx-deployment.yaml", string(manifest)))
	rolloutStatus := func() {
		t.Helper()
		out := kubectl(t, c, "rollout", "status", "-n", ns, "deployment/nginx-deployment", "--timeout=2m")
		if !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("kubectl rollout status printed %q", out)
		}
	}
	// settled waits until exactly want pods exist, all ready with image, none leaving.
	settled := func(want int, image string) map[string]*v1.Pod {
		t.Helper()
		return w.waitFor(t, fmt.Sprintf("%d ready pods of %s", want, image), 2*time.Minute, func(pods map[string]*v1.Pod) bool {
			return len(pods) == want && count(pods, func(p *v1.Pod) bool { return ready(p) && p.Spec.Containers[0].Image == image }) == want
		})
	}
	rolloutStatus()
	pods := settled(2, nginx)
	// Every pod serves the page nginx ships, at its own address, from its node.
	for _, p := range pods {
		body, code := c.Node(p.Spec.NodeName).Get(t, "http://"+net.JoinHostPort(p.Status.PodIP, "80")+"/")
		if code != 200 || !strings.Contains(strings.ToLower(body), "nginx") {
			t.Errorf("pod %s answers %d %q", p.Name, code, body)
		}
	}

	for _, replicas := range []int{5, 1, 4} {
		kubectl(t, c, "scale", "-n", ns, "deployment/nginx-deployment", "--replicas="+strconv.Itoa(replicas))
		rolloutStatus()
		settled(replicas, nginx)
	}

	// A rolling update of 4 with the default 25 % / 25 %: never fewer than 3 ready pods, and no
	// pod of the old template created meanwhile (an old ReplicaSet scaled back up). Live pods are
	// not bounded by replicas + maxSurge: upstream bounds the ReplicaSets' spec.replicas, and an
	// old set's pods go some time after its scale-down while the new set already grows.
	const replicas, maxUnavailable = 4, 1
	var regrown []string
	target := testserver // the rollout's image; the check runs under w.mu
	var belowFloor []string
	w.setCheck(func(ev watch.EventType, p *v1.Pod, pods map[string]*v1.Pod) string {
		// Every event below the floor is kept, with the pods seen: the first rarely tells which
		// scale-down caused it.
		if r := count(pods, ready); r < replicas-maxUnavailable {
			belowFloor = append(belowFloor, fmt.Sprintf("%s %s: %d ready pods, fewer than replicas - maxUnavailable = %d\n%s",
				ev, p.Name, r, replicas-maxUnavailable, describe(pods)))
		}
		// Counted apart from the check's own failure so that every such pod is reported.
		if ev == watch.Added && p.Spec.Containers[0].Image != target {
			regrown = append(regrown, fmt.Sprintf("%s (%s)\n%s", p.Name, p.Spec.Containers[0].Image, describe(pods)))
		}
		return ""
	})
	defer func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, o := range regrown {
			t.Errorf("a pod of the old template was created during the rollout: %s", o)
		}
		for _, o := range belowFloor {
			t.Errorf("ready pods below the floor during the rollout: %s", o)
		}
	}()
	kubectl(t, c, "set", "image", "-n", ns, "deployment/nginx-deployment", "nginx="+testserver)
	rolloutStatus()
	pods = settled(replicas, testserver)
	w.assertHeld(t)
	for _, p := range pods {
		body, code := c.Node(p.Spec.NodeName).Get(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/hostname")
		if code != 200 || strings.TrimSpace(body) != p.Name {
			t.Errorf("updated pod %s answers %d %q", p.Name, code, body)
		}
	}

	w.mu.Lock()
	target = nginx
	w.mu.Unlock()
	kubectl(t, c, "rollout", "undo", "-n", ns, "deployment/nginx-deployment")
	rolloutStatus()
	settled(replicas, nginx)
	w.assertHeld(t)
	w.setCheck(nil)

	d, err := c.Client.AppsV1().Deployments(ns).Get(context.Background(), "nginx-deployment", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rev := d.Annotations["deployment.kubernetes.io/revision"]; rev != "3" {
		t.Errorf("revision after the undo %q, want 3", rev)
	}
	if st := d.Status; st.Replicas != replicas || st.ReadyReplicas != replicas || st.UpdatedReplicas != replicas || st.AvailableReplicas != replicas {
		t.Errorf("status after the undo %+v", st)
	}
	history := kubectl(t, c, "rollout", "history", "-n", ns, "deployment/nginx-deployment")
	if !strings.Contains(history, "2 ") || !strings.Contains(history, "3 ") {
		t.Errorf("kubectl rollout history:\n%s", history)
	}
	rss, err := c.Client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=nginx"})
	if err != nil || len(rss.Items) != 2 {
		t.Fatalf("replica sets %v (%v), want the nginx and the testserver ones", rss, err)
	}
	for _, rs := range rss.Items {
		want := int32(0)
		if rs.Spec.Template.Spec.Containers[0].Image == nginx {
			want = replicas
		}
		if *rs.Spec.Replicas != want || rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == "" {
			t.Errorf("replica set %s: replicas %d (want %d), labels %v", rs.Name, *rs.Spec.Replicas, want, rs.Labels)
		}
	}
}

// testStatefulSet: three pods of a headless Service appear strictly in order, a deleted one
// comes back with its name and hostname, and scaling to 0 removes them in reverse order.
func testStatefulSet(t *testing.T, c *testcluster.Cluster) {
	ns := namespace(t, c, "sts")
	ctx := context.Background()
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1.ServiceSpec{
		ClusterIP: v1.ClusterIPNone, Selector: map[string]string{"app": "web"},
		Ports: []v1.ServicePort{{Name: "http", Port: 8080}}}}
	if _, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	app := c.Testserver("app")
	app.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.StatefulSetSpec{
		ServiceName: "web", Replicas: ptr.To[int32](3),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: v1.PodSpec{Containers: []v1.Container{app}, TerminationGracePeriodSeconds: ptr.To[int64](5)}}}}

	ordinal := func(name string) int {
		i, err := strconv.Atoi(strings.TrimPrefix(name, "web-"))
		if err != nil {
			return -1
		}
		return i
	}
	w := watchPods(t, c.Client, ns, "app=web")
	// OrderedReady: web-i is created only once web-(i-1) runs and is ready.
	w.setCheck(func(ev watch.EventType, p *v1.Pod, pods map[string]*v1.Pod) string {
		if ev != watch.Added {
			return ""
		}
		i := ordinal(p.Name)
		if i < 0 || i > 2 {
			return "not a pod of the set"
		}
		for j := 0; j < i; j++ {
			prev, ok := pods[fmt.Sprintf("web-%d", j)]
			if !ok || !ready(prev) {
				return fmt.Sprintf("created while web-%d is not Running and Ready", j)
			}
		}
		return ""
	})
	if _, err := c.Client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	allReady := func(pods map[string]*v1.Pod) bool { return len(pods) == 3 && count(pods, ready) == 3 }
	pods := w.waitFor(t, "web-0, web-1, web-2 ready", 2*time.Minute, allReady)
	kubectl(t, c, "rollout", "status", "-n", ns, "statefulset/web", "--timeout=1m")
	w.assertHeld(t)
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		p := pods[name]
		if p == nil {
			t.Fatalf("no pod %s", name)
		}
		if p.Spec.Hostname != name || p.Spec.Subdomain != "web" {
			t.Errorf("%s: hostname %q subdomain %q", name, p.Spec.Hostname, p.Spec.Subdomain)
		}
		if body, code := c.Node(p.Spec.NodeName).Get(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/hostname"); code != 200 || strings.TrimSpace(body) != name {
			t.Errorf("%s answers %d %q", name, code, body)
		}
	}

	// A deleted web-1 comes back as web-1 (a new pod), with the same hostname inside.
	old := pods["web-1"]
	w.setCheck(nil)
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pods = w.waitFor(t, "a new web-1 ready", 2*time.Minute, func(pods map[string]*v1.Pod) bool {
		p := pods["web-1"]
		return p != nil && p.UID != old.UID && ready(p) && allReady(pods)
	})
	p := pods["web-1"]
	if body, code := c.Node(p.Spec.NodeName).Get(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/hostname"); code != 200 || strings.TrimSpace(body) != "web-1" {
		t.Errorf("the new web-1 answers %d %q", code, body)
	}
	waitNoLeftovers(t, c, []*v1.Pod{old})

	// Scaling to 0 removes web-2, then web-1, then web-0, each gone before the next goes.
	var order []string
	w.setCheck(func(ev watch.EventType, p *v1.Pod, pods map[string]*v1.Pod) string {
		if p.DeletionTimestamp == nil && ev != watch.Deleted {
			return ""
		}
		if !containsString(order, p.Name) {
			order = append(order, p.Name)
		}
		for j := ordinal(p.Name) + 1; j < 3; j++ {
			if _, ok := pods[fmt.Sprintf("web-%d", j)]; ok {
				return fmt.Sprintf("leaving while web-%d still exists", j)
			}
		}
		return ""
	})
	before := make([]*v1.Pod, 0, 3)
	for _, p := range pods {
		before = append(before, p)
	}
	kubectl(t, c, "scale", "-n", ns, "statefulset/web", "--replicas=0")
	w.waitFor(t, "every pod of the set gone", 2*time.Minute, func(pods map[string]*v1.Pod) bool { return len(pods) == 0 })
	w.assertHeld(t)
	w.mu.Lock()
	got := strings.Join(order, ",")
	w.mu.Unlock()
	if got != "web-2,web-1,web-0" {
		t.Errorf("pods left in the order %s, want web-2,web-1,web-0", got)
	}
	waitNoLeftovers(t, c, before)
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// testDaemonSet: one running pod of the DaemonSet on each node.
func testDaemonSet(t *testing.T, c *testcluster.Cluster) {
	ns := namespace(t, c, "ds")
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
		Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
			Spec: v1.PodSpec{Containers: []v1.Container{c.Testserver("app")}, TerminationGracePeriodSeconds: ptr.To[int64](5)}}}}
	w := watchPods(t, c.Client, ns, "app=agent")
	// Never two pods of the set on one node.
	w.setCheck(func(_ watch.EventType, _ *v1.Pod, pods map[string]*v1.Pod) string {
		seen := map[string]string{}
		for _, p := range pods {
			if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
				continue
			}
			if other, ok := seen[p.Spec.NodeName]; ok {
				return fmt.Sprintf("%s and %s both on %s", other, p.Name, p.Spec.NodeName)
			}
			seen[p.Spec.NodeName] = p.Name
		}
		return ""
	})
	if _, err := c.Client.AppsV1().DaemonSets(ns).Create(context.Background(), ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := w.waitFor(t, "a ready pod on each node", 2*time.Minute, func(pods map[string]*v1.Pod) bool {
		return len(pods) == len(c.Nodes) && count(pods, ready) == len(c.Nodes)
	})
	kubectl(t, c, "rollout", "status", "-n", ns, "daemonset/agent", "--timeout=1m")
	w.assertHeld(t)
	on := map[string]bool{}
	for _, p := range pods {
		on[p.Spec.NodeName] = true
		n := c.Node(p.Spec.NodeName)
		if n == nil {
			t.Fatalf("%s on unknown node %q", p.Name, p.Spec.NodeName)
		}
		if cg := n.PodCgroups(string(p.UID)); len(cg) == 0 {
			t.Errorf("%s: no cgroup on %s: not a real container", p.Name, n.Name)
		}
		if body, code := n.Get(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/hostname"); code != 200 || strings.TrimSpace(body) != p.Name {
			t.Errorf("%s answers %d %q", p.Name, code, body)
		}
	}
	for _, n := range c.Nodes {
		if !on[n.Name] {
			t.Errorf("no pod on node %s", n.Name)
		}
	}
	got, err := c.Client.AppsV1().DaemonSets(ns).Get(context.Background(), "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st, want := got.Status, int32(len(c.Nodes)); st.DesiredNumberScheduled != want || st.CurrentNumberScheduled != want || st.NumberReady != want || st.NumberMisscheduled != 0 {
		t.Errorf("daemon set status %+v", st)
	}
}

// testJob: a Job of 3 completions, 2 at a time, of pods that exit 0 completes, and never runs
// more than its parallelism.
func testJob(t *testing.T, c *testcluster.Cluster) {
	ns := namespace(t, c, "job")
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "three"}, Spec: batchv1.JobSpec{
		Completions: ptr.To[int32](3), Parallelism: ptr.To[int32](2), BackoffLimit: ptr.To[int32](0),
		Template: v1.PodTemplateSpec{Spec: v1.PodSpec{RestartPolicy: v1.RestartPolicyNever,
			Containers: []v1.Container{c.Busybox("work", "sleep 1; exit 0")}}}}}
	w := watchPods(t, c.Client, ns, "batch.kubernetes.io/job-name=three")
	w.setCheck(func(_ watch.EventType, _ *v1.Pod, pods map[string]*v1.Pod) string {
		active := count(pods, func(p *v1.Pod) bool {
			return p.DeletionTimestamp == nil && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed
		})
		if active > 2 {
			return fmt.Sprintf("%d pods active, more than the parallelism of 2", active)
		}
		return ""
	})
	if _, err := c.Client.BatchV1().Jobs(ns).Create(context.Background(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubectl(t, c, "wait", "-n", ns, "--for=condition=Complete", "job/three", "--timeout=2m")
	pods := w.waitFor(t, "3 pods Succeeded", 30*time.Second, func(pods map[string]*v1.Pod) bool {
		return count(pods, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded }) == 3
	})
	w.assertHeld(t)
	if len(pods) != 3 {
		t.Errorf("the job made %d pods, want 3:\n%s", len(pods), describe(pods))
	}
	for _, p := range pods {
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 {
			t.Errorf("%s: container statuses %+v", p.Name, cs)
		}
	}
	j, err := c.Client.BatchV1().Jobs(ns).Get(context.Background(), "three", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status.Succeeded != 3 || j.Status.Failed != 0 || j.Status.Active != 0 || j.Status.CompletionTime == nil {
		t.Errorf("job status %+v", j.Status)
	}
	out := kubectl(t, c, "get", "-n", ns, "job/three", "--no-headers")
	if f := strings.Fields(out); len(f) < 3 || f[1] != "Complete" || f[2] != "3/3" {
		t.Errorf("kubectl get job: %q", out)
	}
}

// deployment is a Deployment of replicas testserver pods labelled app=name.
func deployment(c *testcluster.Cluster, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: v1.PodSpec{Containers: []v1.Container{c.Testserver("app")}, TerminationGracePeriodSeconds: ptr.To[int64](5)}}}}
}

// runDeployment creates the Deployment and waits for its pods to be ready; it returns them.
func runDeployment(t *testing.T, c *testcluster.Cluster, ns string, d *appsv1.Deployment) []*v1.Pod {
	t.Helper()
	if _, err := c.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := watchPods(t, c.Client, ns, "app="+d.Name)
	want := int(*d.Spec.Replicas)
	pods := w.waitFor(t, fmt.Sprintf("%d ready pods of %s", want, d.Name), 2*time.Minute, func(pods map[string]*v1.Pod) bool {
		return len(pods) == want && count(pods, ready) == want
	})
	w.cancel()
	var out []*v1.Pod
	for _, p := range pods {
		out = append(out, p)
	}
	return out
}

// testCascadingDelete deletes three Deployments of running pods: in the background (the
// Deployment goes at once, its ReplicaSet and pods after), in the foreground (the Deployment
// goes last, after its pods) and orphaning (the ReplicaSet and pods stay, released).
func testCascadingDelete(t *testing.T, c *testcluster.Cluster) {
	ns := namespace(t, c, "cascade")
	ctx := context.Background()
	bg := runDeployment(t, c, ns, deployment(c, "bg", 2))
	fg := runDeployment(t, c, ns, deployment(c, "fg", 2))
	orphan := runDeployment(t, c, ns, deployment(c, "orphan", 2))

	gone := func(what, selector string) {
		t.Helper()
		poll(t, what+" gone", 90*time.Second, func() (bool, string) {
			rs, err1 := c.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			ps, err2 := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err1 != nil || err2 != nil {
				return false, fmt.Sprint(err1, err2)
			}
			return len(rs.Items) == 0 && len(ps.Items) == 0, fmt.Sprintf("%d replica sets, %d pods", len(rs.Items), len(ps.Items))
		})
	}

	t.Run("Background", func(t *testing.T) {
		kubectl(t, c, "delete", "-n", ns, "deployment/bg")
		gone("the ReplicaSet and pods of bg", "app=bg")
		waitNoLeftovers(t, c, bg)
	})

	t.Run("Foreground", func(t *testing.T) {
		dw, err := c.Client.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=fg"})
		if err != nil {
			t.Fatal(err)
		}
		defer dw.Stop()
		kubectl(t, c, "delete", "-n", ns, "deployment/fg", "--cascade=foreground", "--wait=false")
		sawFinalizer := false
		timeout := time.After(90 * time.Second)
	loop:
		for {
			select {
			case ev, ok := <-dw.ResultChan():
				if !ok {
					t.Fatal("the watch of the deployment ended early")
				}
				d, _ := ev.Object.(*appsv1.Deployment)
				if d == nil {
					continue
				}
				if containsString(d.Finalizers, metav1.FinalizerDeleteDependents) {
					sawFinalizer = true
				}
				if ev.Type == watch.Deleted {
					break loop
				}
			case <-timeout:
				t.Fatal("deployment fg still there 90s after a foreground delete")
			}
		}
		if !sawFinalizer {
			t.Errorf("the deployment never carried the %s finalizer", metav1.FinalizerDeleteDependents)
		}
		// The Deployment went last: nothing of it is left the moment it is gone.
		ps, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=fg"})
		if err != nil || len(ps.Items) != 0 {
			t.Errorf("pods of fg after its foreground delete: %v %v", describePods(ps), err)
		}
		rs, err := c.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=fg"})
		if err != nil || len(rs.Items) != 0 {
			t.Errorf("replica sets of fg after its foreground delete: %d %v", len(rs.Items), err)
		}
		waitNoLeftovers(t, c, fg)
	})

	t.Run("Orphan", func(t *testing.T) {
		kubectl(t, c, "delete", "-n", ns, "deployment/orphan", "--cascade=orphan")
		if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "orphan", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("deployment after the orphan delete: %v", err)
		}
		poll(t, "the ReplicaSet released", 30*time.Second, func() (bool, string) {
			rs, err := c.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=orphan"})
			if err != nil || len(rs.Items) != 1 {
				return false, fmt.Sprint(len(rs.Items), err)
			}
			return len(rs.Items[0].OwnerReferences) == 0 && len(rs.Items[0].Finalizers) == 0,
				fmt.Sprintf("owners %v finalizers %v", rs.Items[0].OwnerReferences, rs.Items[0].Finalizers)
		})
		// The pods never stopped: the same ones, still ready, still owned by the ReplicaSet.
		for _, p := range orphan {
			cur, err := c.Client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil || cur.UID != p.UID || !ready(cur) || metav1.GetControllerOf(cur) == nil {
				t.Errorf("orphaned pod %s: %v %+v", p.Name, err, cur)
			}
		}
		kubectl(t, c, "delete", "-n", ns, "replicaset", "-l", "app=orphan")
		gone("the orphaned ReplicaSet and its pods", "app=orphan")
		waitNoLeftovers(t, c, orphan)
	})
}

func describePods(l *v1.PodList) string {
	if l == nil {
		return "(no list)"
	}
	m := map[string]*v1.Pod{}
	for i := range l.Items {
		m[l.Items[i].Name] = &l.Items[i]
	}
	return describe(m)
}

// testNamespaceDelete deletes a namespace holding a Deployment of running pods, a bare pod and
// a ConfigMap: kubectl returns once it is gone, and no node keeps anything of its pods.
func testNamespaceDelete(t *testing.T, c *testcluster.Cluster) {
	ns := namespace(t, c, "doomed")
	ctx := context.Background()
	pods := runDeployment(t, c, ns, deployment(c, "app", 3))
	bare := c.CreatePod(t, ns, c.Nodes[0], &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare"},
		Spec: v1.PodSpec{Containers: []v1.Container{c.Busybox("sleeper", "sleep 3600")}, TerminationGracePeriodSeconds: ptr.To[int64](2)}})
	pods = append(pods, c.WaitRunning(t, ns, bare.Name))
	if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	kubectl(t, c, "delete", "namespace", ns, "--timeout=90s")
	t.Logf("namespace with %d running pods deleted in %v", len(pods), time.Since(start).Round(time.Millisecond))
	if _, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace %s after kubectl delete: %v", ns, err)
	}
	ps, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(ps.Items) != 0 {
		t.Errorf("pods of the deleted namespace: %s %v", describePods(ps), err)
	}
	waitNoLeftovers(t, c, pods)
}
