package plugins

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const gi = 1 << 30

func TestNodeResourcesFit(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	tests := []struct {
		name     string
		pod      *corev1.Pod
		existing []*corev1.Pod
		node     *corev1.Node
		want     string
	}{
		{"no requests fits a full node", pod("p", 0, 0), []*corev1.Pod{pod("e", 4000, 8*gi)}, node("n", 4000, 8*gi, 110), ""},
		{"fits exactly", pod("p", 1000, gi), []*corev1.Pod{pod("e", 3000, 7*gi)}, node("n", 4000, 8*gi, 110), ""},
		{"insufficient cpu", pod("p", 1001, gi), []*corev1.Pod{pod("e", 3000, 1*gi)}, node("n", 4000, 8*gi, 110), "Insufficient cpu"},
		{"insufficient cpu and memory", pod("p", 2000, 8*gi), []*corev1.Pod{pod("e", 3000, 1*gi)}, node("n", 4000, 8*gi, 110),
			"Insufficient cpu, Insufficient memory"},
		{"too many pods", pod("p", 0, 0), []*corev1.Pod{pod("e", 0, 0)}, node("n", 4000, 8*gi, 1), ReasonTooManyPods},
		{"too many pods and cpu", pod("p", 5000, 0), []*corev1.Pod{pod("e", 0, 0)}, node("n", 4000, 8*gi, 1), "Too many pods, Insufficient cpu"},
		{"init container larger than app: the init peak counts", pod("p", 1000, 0, func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: requests(3000, 0)}}}
		}), nil, node("n", 2000, 8*gi, 110), "Insufficient cpu"},
		{"init container smaller than app: the app counts", pod("p", 2000, 0, func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: requests(1000, 0)}}}
		}), nil, node("n", 2000, 8*gi, 110), ""},
		{"sidecar adds to the app containers", pod("p", 1500, 0, func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "s", RestartPolicy: &always, Resources: corev1.ResourceRequirements{Requests: requests(1000, 0)}}}
		}), nil, node("n", 2000, 8*gi, 110), "Insufficient cpu"},
		{"overhead counts", pod("p", 1900, 0, func(p *corev1.Pod) {
			p.Spec.Overhead = requests(200, 0)
		}), nil, node("n", 2000, 8*gi, 110), "Insufficient cpu"},
		{"extended resource the node lacks", pod("p", 0, 0, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}), nil, node("n", 2000, 8*gi, 110), "Insufficient example.com/gpu"},
		{"extended resource the node has", pod("p", 0, 0, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("2")
		}), nil, node("n", 2000, 8*gi, 110, func(n *corev1.Node) { n.Status.Allocatable["example.com/gpu"] = resource.MustParse("2") }), ""},
		{"ephemeral storage", pod("p", 0, 0, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse("2Gi")
		}), nil, node("n", 2000, 8*gi, 110, func(n *corev1.Node) {
			n.Status.Allocatable[corev1.ResourceEphemeralStorage] = resource.MustParse("1Gi")
		}),
			"Insufficient ephemeral-storage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := filterAll(NodeResourcesFit{}, tc.pod, nodeInfo(tc.node, tc.existing...))["n"]
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLeastAllocatedAndBalanced(t *testing.T) {
	// Node 1: 4000m / 10000 bytes, pod asks 3000m / 5000: cpu (1000*100/4000)=25, memory 50 → 37.
	// Node 2: 6000m / 10000: cpu 50, memory 50 → 50.
	p := pod("p", 3000, 5000)
	n1 := nodeInfo(node("n1", 4000, 10000, 110))
	n2 := nodeInfo(node("n2", 6000, 10000, 110))
	if got := scoreAll(LeastAllocated{}, p, n1, n2); !reflect.DeepEqual(got, []int64{37, 50}) {
		t.Errorf("least allocated = %v, want [37 50]", got)
	}
	// Balanced: n1 fractions 0.75 / 0.5 → std 0.125 → 87; n2 0.5/0.5 → 100.
	if got := scoreAll(BalancedAllocation{}, p, n1, n2); !reflect.DeepEqual(got, []int64{87, 100}) {
		t.Errorf("balanced = %v, want [87 100]", got)
	}
	// A best-effort pod is not balanced, and least-allocated charges it the defaults
	// (100m, 200Mi): on a 1000m/400Mi node that is 90 and 50 → 70.
	be := pod("be", 0, 0)
	n3 := nodeInfo(node("n3", 1000, 400*1024*1024, 110))
	if got := scoreAll(LeastAllocated{}, be, n3); got[0] != 70 {
		t.Errorf("least allocated best-effort = %v, want 70", got)
	}
	if got := scoreAll(BalancedAllocation{}, be, n3); got[0] != 0 {
		t.Errorf("balanced best-effort = %v, want 0", got)
	}
}

func TestNodePorts(t *testing.T) {
	withPort := func(ip string, proto corev1.Protocol, port int32) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{HostIP: ip, Protocol: proto, HostPort: port, ContainerPort: 80})
		}
	}
	tests := []struct {
		name          string
		pod, existing *corev1.Pod
		conflict      bool
	}{
		{"different ports", pod("p", 0, 0, withPort("", "", 8080)), pod("e", 0, 0, withPort("", "", 8081)), false},
		{"same port any address", pod("p", 0, 0, withPort("", "", 8080)), pod("e", 0, 0, withPort("", "TCP", 8080)), true},
		{"same port other protocol", pod("p", 0, 0, withPort("", "UDP", 8080)), pod("e", 0, 0, withPort("", "TCP", 8080)), false},
		{"specific vs any", pod("p", 0, 0, withPort("127.0.0.1", "", 8080)), pod("e", 0, 0, withPort("0.0.0.0", "", 8080)), true},
		{"any vs specific", pod("p", 0, 0, withPort("", "", 8080)), pod("e", 0, 0, withPort("10.0.0.1", "", 8080)), true},
		{"two specific addresses", pod("p", 0, 0, withPort("10.0.0.2", "", 8080)), pod("e", 0, 0, withPort("10.0.0.1", "", 8080)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := filterAll(NodePorts{}, tc.pod, nodeInfo(node("n", 1000, gi, 110), tc.existing))["n"]
			if (got == ReasonNodePorts) != tc.conflict || (got != "" && got != ReasonNodePorts) {
				t.Errorf("got %q, conflict want %v", got, tc.conflict)
			}
		})
	}
	// Removing the pod frees its port.
	e := pod("e", 0, 0, withPort("", "", 9000))
	ni := nodeInfo(node("n", 1000, gi, 110), e)
	if err := ni.RemovePod(e); err != nil {
		t.Fatal(err)
	}
	if got := filterAll(NodePorts{}, pod("p", 0, 0, withPort("", "", 9000)), ni)["n"]; got != "" {
		t.Errorf("port still taken after removal: %q", got)
	}
	_ = strings.Join
}
