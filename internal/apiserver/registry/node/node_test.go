package node

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func node(mut func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	if mut != nil {
		mut(n)
	}
	return n
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		n    *corev1.Node
		want []string
	}{
		{"empty", node(nil), nil},
		{"cidrs", node(func(n *corev1.Node) {
			n.Spec.PodCIDR = "10.244.1.0/24"
			n.Spec.PodCIDRs = []string{"10.244.1.0/24", "fd00:1::/64"}
		}), nil},
		{"bad cidr", node(func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.1.0/33"; n.Spec.PodCIDRs = []string{"10.244.1.0/33"} }),
			[]string{"FieldValueInvalid spec.podCIDRs[0]"}},
		{"two v4 cidrs", node(func(n *corev1.Node) {
			n.Spec.PodCIDR = "10.0.0.0/24"
			n.Spec.PodCIDRs = []string{"10.0.0.0/24", "10.0.1.0/24"}
		}),
			[]string{"FieldValueInvalid spec.podCIDRs"}},
		{"taints", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}, {Key: "dedicated", Effect: "NoExecute"}}
		}), nil},
		{"bad taints", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Effect: "Sometimes"}, {Key: "a", Effect: "NoSchedule"}, {Key: "a", Effect: "NoSchedule"}, {Key: "b"}}
		}), []string{"FieldValueRequired spec.taints[0].key", "FieldValueNotSupported spec.taints[0].effect", "FieldValueDuplicate spec.taints[2]",
			"FieldValueRequired spec.taints[3].effect"}},
		{"negative capacity", node(func(n *corev1.Node) {
			n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
		}), []string{"FieldValueInvalid status.capacity[cpu]", "FieldValueInvalid status.allocatable[cpu]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			Strategy().Default(tc.n)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), tc.n), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := node(func(n *corev1.Node) {
		n.Spec.PodCIDR = "10.0.0.0/24"
		n.Spec.PodCIDRs = []string{"10.0.0.0/24"}
		n.Spec.ProviderID = "skiff://n1"
	})
	cases := []struct {
		name string
		mut  func(*corev1.Node)
		want []string
	}{
		{"unschedulable", func(n *corev1.Node) { n.Spec.Unschedulable = true }, nil},
		{"cidr change", func(n *corev1.Node) { n.Spec.PodCIDR = "10.0.1.0/24"; n.Spec.PodCIDRs = []string{"10.0.1.0/24"} }, []string{"FieldValueForbidden spec.podCIDRs"}},
		{"provider change", func(n *corev1.Node) { n.Spec.ProviderID = "other" }, []string{"FieldValueForbidden spec.providerID"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := old.DeepCopy()
			tc.mut(n)
			registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), n, old), tc.want...)
		})
	}
	if got := Strategy().SelectableFields(node(func(n *corev1.Node) { n.Spec.Unschedulable = true })); got["spec.unschedulable"] != "true" {
		t.Fatalf("selectable fields: %v", got)
	}
	// Setting CIDRs and provider ID for the first time is allowed.
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), old, node(nil)))
}
