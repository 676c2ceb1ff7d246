package podtemplate

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func TestStrategy(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(pt *corev1.PodTemplate)
		want   []string
	}{
		{"valid", func(pt *corev1.PodTemplate) {}, nil},
		{"restartPolicy Never is fine", func(pt *corev1.PodTemplate) { pt.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, nil},
		{"no containers", func(pt *corev1.PodTemplate) { pt.Template.Spec.Containers = nil }, []string{"FieldValueRequired template.spec.containers"}},
		{"bad label", func(pt *corev1.PodTemplate) { pt.Template.Labels = map[string]string{"a": "b c"} }, []string{"FieldValueInvalid template.metadata.labels"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pt := &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "default"}, Template: registrytest.PodTemplate(map[string]string{"app": "x"})}
			st := Strategy()
			st.Default(pt)
			if pt.Template.Spec.RestartPolicy == "" || pt.Template.Spec.Containers[0].TerminationMessagePath == "" {
				t.Fatalf("template not defaulted: %+v", pt.Template.Spec)
			}
			tc.mutate(pt)
			registrytest.ExpectErrors(t, st.Validate(context.Background(), pt), tc.want...)
			registrytest.ExpectErrors(t, st.ValidateUpdate(context.Background(), pt, pt.DeepCopy()), tc.want...)
		})
	}
}
