package registrytest

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ExpectErrors fails t unless errs holds exactly the wanted errors, each written as "<type> <path>"
// ("FieldValueRequired spec.selector"), in any order.
func ExpectErrors(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	got := map[string]int{}
	for _, e := range errs {
		got[string(e.Type)+" "+e.Field]++
	}
	for _, w := range want {
		if got[w] == 0 {
			t.Errorf("missing error %q; got %v", w, errs)
			continue
		}
		got[w]--
	}
	for k, n := range got {
		if n > 0 {
			t.Errorf("unexpected error %q; all: %v", k, errs)
		}
	}
}

// PodTemplate returns an undefaulted, otherwise valid pod template carrying labels.
func PodTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
	}
}
