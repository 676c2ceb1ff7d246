package workloads

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/test/fakenodes"
)

// surgeWatch follows a namespace's pods during a rollout to newImage and records every pod of
// another image created meanwhile: an old ReplicaSet scaled back up. ("" checks nothing.)
//
// It does not bound the live pods by replicas + maxSurge: upstream bounds the sum of the
// ReplicaSets' spec.replicas, and an old ReplicaSet's pods go some time after its scale-down,
// while the new one may already grow into the room, so live pods briefly exceed the bound there
// too. The live count is in the history for reading.
type surgeWatch struct {
	mu       sync.Mutex
	pods     map[string]*corev1.Pod
	newImage string
	over     []string
	events   []string
}

func (s *surgeWatch) setRollout(newImage string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.newImage = newImage
	s.events = nil
}

func (s *surgeWatch) observe(ev watch.EventType, p *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev == watch.Deleted {
		delete(s.pods, p.Name)
	} else {
		s.pods[p.Name] = p
	}
	live := 0
	var desc []string
	for _, q := range s.pods {
		state := "live"
		if q.DeletionTimestamp != nil {
			state = "terminating"
		} else {
			live++
		}
		desc = append(desc, fmt.Sprintf("%s(%s,%s,ready=%v)", q.Name, q.Spec.Containers[0].Image, state, podReady(q)))
	}
	slices.Sort(desc)
	s.events = append(s.events, fmt.Sprintf("%s %s (%d live): %s", ev, p.Name, live, strings.Join(desc, " ")))
	if s.newImage != "" && ev == watch.Added && p.Spec.Containers[0].Image != s.newImage {
		s.over = append(s.over, fmt.Sprintf("pod %s of %s created during the rollout to %s; history:\n  %s",
			p.Name, p.Spec.Containers[0].Image, s.newImage, strings.Join(s.events, "\n  ")))
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestDeploymentRolloutNeverRegrowsOld repeats what the workloads e2e does (scale 2→5→1→4,
// then change the image) with pods that take a while to become ready and to stop, and checks
// on every pod event that a rolling update never creates a pod of the old template.
// The race that once broke this (an old ReplicaSet scaled back up on a stale status) needs the
// ReplicaSet controller to sync between two writes of one Deployment sync, so this test catches
// it only now and then; TestStaleOldStatusNeverScalesUp in the deployment package pins it down.
func TestDeploymentRolloutNeverRegrowsOld(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	ns := fmt.Sprintf("wl-%d-surge", nsCounter.Add(1))
	if _, err := shared.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = shared.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	// Pods become ready some time after they are first seen, as real containers do.
	var seenMu sync.Mutex
	seen := map[types.UID]time.Time{}
	const readyAfter = 150 * time.Millisecond
	nodes, err := fakenodes.Start(ctx, shared.Client, fakenodes.Options{
		Nodes: []string{"node-" + ns}, Namespaces: []string{ns}, Terminating: 300 * time.Millisecond,
		Outcome: func(p *corev1.Pod) fakenodes.Outcome {
			seenMu.Lock()
			defer seenMu.Unlock()
			first, ok := seen[p.UID]
			if !ok {
				first = time.Now()
				seen[p.UID] = first
			}
			return fakenodes.Outcome{NotReady: time.Since(first) < readyAfter}
		}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			nodes.Resync()
		}
	}()

	sw := &surgeWatch{pods: map[string]*corev1.Pod{}}
	w, err := shared.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				sw.observe(ev.Type, p)
			}
		}
	}()
	t.Cleanup(w.Stop)

	dc := shared.Client.AppsV1().Deployments(ns)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:0"}}},
			},
		},
	}
	if _, err := dc.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	image := 0
	// settled waits for want ready pods of the current image, no others, and a complete status.
	settled := func(want int32) {
		t.Helper()
		img := fmt.Sprintf("img:%d", image)
		eventually(ctx, t, fmt.Sprintf("%d ready pods of %s", want, img), func() (bool, error) {
			d, err := dc.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := d.Status
			if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.Replicas != want || st.AvailableReplicas != want {
				return false, fmt.Errorf("status %+v", st)
			}
			sw.mu.Lock()
			defer sw.mu.Unlock()
			n := 0
			for _, p := range sw.pods {
				if p.DeletionTimestamp != nil || p.Spec.Containers[0].Image != img || !podReady(p) {
					return false, fmt.Errorf("pod %s not settled", p.Name)
				}
				n++
			}
			return n == int(want), fmt.Errorf("%d pods", n)
		})
	}
	settled(2)
	for round := range 4 {
		for _, r := range []int32{5, 1, 4} {
			sc, err := dc.GetScale(ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sc.Spec.Replicas = r
			if _, err := dc.UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			settled(r)
		}
		image++
		sw.setRollout(fmt.Sprintf("img:%d", image))
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"img:%d"}]}}}}`, image)
		if _, err := dc.Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		settled(4)
		sw.setRollout("")
		sw.mu.Lock()
		over := slices.Clone(sw.over)
		sw.mu.Unlock()
		if len(over) > 0 {
			t.Fatalf("round %d: %s", round, over[0])
		}
	}
}
