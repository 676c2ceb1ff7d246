package cache

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

func node(name string) *corev1.Node {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Allocatable: rl}}
}

func pod(name, nodeName string, affinity bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Labels: map[string]string{"app": "a"}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}}
	if affinity {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}}, TopologyKey: "kubernetes.io/hostname"}}}}
	}
	return p
}

// view renders what a scheduling cycle reads from a snapshot.
func view(s *fw.Snapshot) string {
	var nodes, aff, anti []string
	for _, ni := range s.List() {
		nodes = append(nodes, fmt.Sprintf("%s:%d/%dm", ni.Name(), len(ni.Pods), ni.Requested.MilliCPU))
		if s.Get(ni.Name()) != ni {
			nodes = append(nodes, "index mismatch for "+ni.Name())
		}
	}
	for _, ni := range s.WithAffinity() {
		aff = append(aff, ni.Name())
	}
	for _, ni := range s.WithRequiredAntiAffinity() {
		anti = append(anti, ni.Name())
	}
	slices.Sort(nodes)
	slices.Sort(aff)
	slices.Sort(anti)
	return fmt.Sprint(nodes, " affinity ", aff, " anti ", anti)
}

// TestUpdateSnapshotIncremental: a snapshot brought up to date after each change (copying only
// what changed) reads the same as one built from scratch.
func TestUpdateSnapshotIncremental(t *testing.T) {
	steps := []struct {
		name string
		do   func(c *Cache)
	}{
		{"nodes", func(c *Cache) {
			for i := range 3 {
				c.AddNode(node(fmt.Sprintf("n%d", i)))
			}
		}},
		{"assume", func(c *Cache) { _ = c.AssumePod(pod("a", "n0", false)) }},
		{"confirm", func(c *Cache) { c.AddPod(pod("a", "n0", false)) }},
		{"affinity pod", func(c *Cache) { c.AddPod(pod("b", "n1", true)) }},
		{"second pod same node", func(c *Cache) { c.AddPod(pod("c", "n1", false)) }},
		{"affinity pod gone", func(c *Cache) { c.RemovePod(pod("b", "n1", true)) }},
		{"forget", func(c *Cache) { _ = c.AssumePod(pod("d", "n2", false)); c.ForgetPod(pod("d", "n2", false)) }},
		{"pod on unknown node", func(c *Cache) { c.AddPod(pod("e", "n9", false)) }},
		{"unknown node appears", func(c *Cache) { c.AddNode(node("n9")) }},
		{"node removed with pods", func(c *Cache) { c.RemoveNode("n0") }},
		{"its pod deleted", func(c *Cache) { c.RemovePod(pod("a", "n0", false)) }},
		{"empty node removed", func(c *Cache) { c.RemoveNode("n2") }},
		{"node updated", func(c *Cache) { c.UpdateNode(node("n1")) }},
		{"node back", func(c *Cache) { c.AddNode(node("n0")) }},
	}
	c := New()
	inc := fw.NewSnapshot()
	for _, st := range steps {
		st.do(c)
		c.UpdateSnapshot(inc)
		// Another snapshot makes the cache compare every node: the view from scratch.
		fresh := fw.NewSnapshot()
		c.UpdateSnapshot(fresh)
		if got, want := view(inc), view(fresh); got != want {
			t.Fatalf("after %q: incremental %s, from scratch %s", st.name, got, want)
		}
		// Back to the incremental snapshot: the full pass over it must find nothing new.
		c.UpdateSnapshot(inc)
		if got, want := view(inc), view(fresh); got != want {
			t.Fatalf("after %q, full pass over the incremental snapshot: %s, want %s", st.name, got, want)
		}
	}
	if got := view(inc); got != "[n0:0/0m n1:1/100m n9:1/100m] affinity [] anti []" {
		t.Fatalf("final snapshot %s", got)
	}
}
