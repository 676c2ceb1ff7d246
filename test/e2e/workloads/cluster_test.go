package workloads

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/server"
	"github.com/skiff-dev/skiff/internal/testcluster"
	"github.com/skiff-dev/skiff/test/images/testimages"
)

// startCluster runs a testcluster of n nodes whose API server also runs the scheduler and the
// controller manager, with every test image on every node. server adjusts the server further.
func startCluster(t *testing.T, n int, srv func(*server.Config), nodeArgs func(*testcluster.Node) []string) *testcluster.Cluster {
	t.Helper()
	start := time.Now()
	c := testcluster.Start(t, testcluster.Options{
		Nodes:  n,
		Images: []string{testimages.Testserver, testimages.Busybox, testimages.Nginx},
		Server: func(cfg *server.Config) {
			cfg.DisableScheduler, cfg.DisableControllerManager = false, false
			if srv != nil {
				srv(cfg)
			}
		},
		NodeArgs: nodeArgs,
	})
	t.Logf("%d nodes Ready in %v", n, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpNodeLogs(t)
		}
	})
	return c
}

// kubectl runs kubectl and fails the test unless it exits 0; it returns stdout. Two minutes at
// most: rollouts of real containers on a loaded machine take their time.
func kubectl(t *testing.T, c *testcluster.Cluster, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := c.KubectlCmd(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v (after %v)\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), err,
			time.Since(start).Round(time.Millisecond), out.String(), errb.String())
	}
	t.Logf("kubectl %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return out.String()
}

// writeManifest writes text to a file of the test's temp dir and returns its path.
func writeManifest(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ready says whether the pod counts as ready for a controller: Ready and not on its way out.
func ready(p *v1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase == v1.PodRunning && testcluster.PodReady(p)
}

// podWatch follows the pods of a namespace matching a selector through one watch, keeping their
// latest state, so that a test can wait for a state and check an invariant on every change (a
// poll would miss the moment an invariant breaks).
type podWatch struct {
	t      *testing.T
	mu     sync.Mutex
	pods   map[string]*v1.Pod
	notify chan struct{} // closed and replaced on every change
	check  func(ev watch.EventType, p *v1.Pod, pods map[string]*v1.Pod) string
	broken []string // what check reported, and watch failures
	cancel context.CancelFunc
	done   chan struct{}
}

// watchPods lists and then watches the pods of ns matching selector until the test ends.
func watchPods(t *testing.T, cs kubernetes.Interface, ns, selector string) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &podWatch{t: t, pods: map[string]*v1.Pod{}, notify: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		cancel()
		t.Fatalf("listing pods %s in %s: %v", selector, ns, err)
	}
	for i := range l.Items {
		w.pods[l.Items[i].Name] = &l.Items[i]
	}
	t.Cleanup(func() { cancel(); <-w.done })
	go w.run(ctx, cs, ns, selector, l.ResourceVersion)
	return w
}

func (w *podWatch) run(ctx context.Context, cs kubernetes.Interface, ns, selector, rv string) {
	defer close(w.done)
	for ctx.Err() == nil {
		wi, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				w.fail("watch history lost at resourceVersion " + rv + ": changes were missed")
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond): // the server is busy: watch again
			}
			continue
		}
		for ev := range wi.ResultChan() {
			switch ev.Type {
			case watch.Error:
				if st, ok := ev.Object.(*metav1.Status); ok && (st.Code == 410) {
					w.fail("watch history lost: " + st.Message)
					wi.Stop()
					return
				}
				continue
			case watch.Bookmark:
				if m, err := meta.Accessor(ev.Object); err == nil {
					rv = m.GetResourceVersion()
				}
				continue
			}
			p, ok := ev.Object.(*v1.Pod)
			if !ok {
				continue
			}
			rv = p.ResourceVersion
			w.apply(ev.Type, p)
		}
		wi.Stop()
	}
}

func (w *podWatch) fail(msg string) {
	w.mu.Lock()
	w.broken = append(w.broken, msg)
	close(w.notify)
	w.notify = make(chan struct{})
	w.mu.Unlock()
}

func (w *podWatch) apply(typ watch.EventType, p *v1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if typ == watch.Deleted {
		delete(w.pods, p.Name)
	} else {
		w.pods[p.Name] = p
	}
	if w.check != nil {
		if msg := w.check(typ, p, w.pods); msg != "" {
			w.broken = append(w.broken, fmt.Sprintf("%s %s: %s\n%s", typ, p.Name, msg, describe(w.pods)))
		}
	}
	close(w.notify)
	w.notify = make(chan struct{})
}

// setCheck makes check run on every change from now on (nil: none); a non-empty result is an
// invariant broken, reported by assertHeld.
func (w *podWatch) setCheck(check func(ev watch.EventType, p *v1.Pod, pods map[string]*v1.Pod) string) {
	w.mu.Lock()
	w.check = check
	w.mu.Unlock()
}

// assertHeld fails the test with every invariant the watch saw broken, and forgets them.
func (w *podWatch) assertHeld(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	broken := w.broken
	w.broken = nil
	w.mu.Unlock()
	for _, b := range broken {
		t.Error(b)
	}
}

// waitFor waits until cond holds on the watched pods and returns them (a copy of the map).
func (w *podWatch) waitFor(t *testing.T, what string, timeout time.Duration, cond func(pods map[string]*v1.Pod) bool) map[string]*v1.Pod {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	start := time.Now()
	for {
		w.mu.Lock()
		ok := cond(w.pods)
		snapshot := make(map[string]*v1.Pod, len(w.pods))
		for k, v := range w.pods {
			snapshot[k] = v
		}
		notify, broken := w.notify, len(w.broken) > 0 && strings.HasPrefix(w.broken[len(w.broken)-1], "watch history lost")
		w.mu.Unlock()
		if ok {
			t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
			return snapshot
		}
		if broken {
			w.assertHeld(t)
			t.FailNow()
		}
		select {
		case <-notify:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; pods:\n%s", timeout, what, describe(snapshot))
		}
	}
}

// describe lists pods one a line: name, node, phase, readiness, deletion.
func describe(pods map[string]*v1.Pod) string {
	names := make([]string, 0, len(pods))
	for n := range pods {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		p := pods[n]
		img := ""
		if len(p.Spec.Containers) > 0 {
			img = p.Spec.Containers[0].Image
		}
		fmt.Fprintf(&b, "  %s node=%s phase=%s ready=%v deleting=%v image=%s\n", n, p.Spec.NodeName, p.Status.Phase,
			testcluster.PodReady(p), p.DeletionTimestamp != nil, img)
	}
	if len(names) == 0 {
		b.WriteString("  (none)\n")
	}
	return b.String()
}

// count counts the pods for which f holds.
func count(pods map[string]*v1.Pod, f func(*v1.Pod) bool) int {
	n := 0
	for _, p := range pods {
		if f(p) {
			n++
		}
	}
	return n
}

// waitNoLeftovers waits (bounded: an agent removes a sandbox shortly after the pod's API object
// goes) until no node holds anything of the pods, and fails the test with what remains.
func waitNoLeftovers(t *testing.T, c *testcluster.Cluster, pods []*v1.Pod) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		for _, p := range pods {
			n := c.Node(p.Spec.NodeName)
			if n == nil {
				continue
			}
			for _, l := range n.Leftovers(string(p.UID)) {
				left = append(left, fmt.Sprintf("%s/%s on %s: %s", p.Namespace, p.Name, n.Name, l))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after their pods went, nodes still hold:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// poll checks cond until it holds, for what cannot be watched through podWatch (objects other
// than pods); it fails the test after timeout.
func poll(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	start := time.Now()
	for {
		ok, state := cond()
		if ok {
			t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// namespace creates a namespace for one scenario and deletes it when the scenario ends (its
// controllers would otherwise bring back the pods the cluster's own cleanup deletes), waiting
// until it is gone.
func namespace(t *testing.T, c *testcluster.Cluster, prefix string) string {
	t.Helper()
	ns := c.Namespace(t, prefix)
	t.Cleanup(func() {
		ctx := context.Background()
		if t.Failed() {
			logEvents(t, c, ns)
		}
		err := c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if err != nil {
			t.Errorf("deleting namespace %s: %v", ns, err)
			return
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			_, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("namespace %s still there 2 minutes after its delete: %v", ns, err)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	return ns
}

// logEvents shows the events of a namespace in the order they happened: what the controllers
// decided (ScalingReplicaSet, SuccessfulCreate, ...) explains most failed invariants.
func logEvents(t *testing.T, c *testcluster.Cluster, ns string) {
	l, err := c.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Logf("events of %s: %v", ns, err)
		return
	}
	sort.SliceStable(l.Items, func(i, j int) bool {
		return l.Items[i].LastTimestamp.Before(&l.Items[j].LastTimestamp) ||
			(l.Items[i].LastTimestamp.Equal(&l.Items[j].LastTimestamp) && l.Items[i].ResourceVersion < l.Items[j].ResourceVersion)
	})
	var b strings.Builder
	for _, e := range l.Items {
		fmt.Fprintf(&b, "  %s %s/%s %s: %s (x%d)\n", e.LastTimestamp.Format("15:04:05"), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message, e.Count)
	}
	t.Logf("events of %s:\n%s", ns, b.String())
}
