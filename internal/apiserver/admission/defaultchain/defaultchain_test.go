package defaultchain

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/admissiontest"
)

// TestChainOrder checks what only the order guarantees: a missing namespace is reported before
// anything else, and quota sees the requests LimitRanger defaulted.
func TestChainOrder(t *testing.T) {
	podsGVR := corev1.SchemeGroupVersion.WithResource("pods")
	cpu := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")}
	cases := []struct {
		name      string
		namespace string
		wantErr   string
	}{
		{name: "missing namespace first", namespace: "nope", wantErr: `namespaces "nope" not found`},
		{name: "quota sees defaulted requests", namespace: "ns",
			wantErr: `pods "p" is forbidden: exceeded quota: q, requested: requests.cpu=300m, used: requests.cpu=0, limited: requests.cpu=200m`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hard := corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("200m")}
			l := admissiontest.New(
				&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
				&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "l", Namespace: "ns"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: "Container", Default: cpu}}}},
				&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"}, Spec: corev1.ResourceQuotaSpec{Hard: hard},
					Status: corev1.ResourceQuotaStatus{Hard: hard, Used: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("0")}}},
			)
			chain := New(l, []schema.GroupVersionResource{podsGVR})
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: tc.namespace}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
			a := &admission.Attributes{Operation: admission.Create, Resource: podsGVR, Namespace: tc.namespace, Name: "p", Object: pod}
			err := chain.Admit(context.Background(), a)
			if err == nil {
				err = chain.Validate(context.Background(), a)
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("got %v, want %s", err, tc.wantErr)
			}
			if _, ok := err.(apierrors.APIStatus); !ok {
				t.Fatalf("%T is not an API status", err)
			}
		})
	}
}
