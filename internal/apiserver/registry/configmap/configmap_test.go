package configmap

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		cm   corev1.ConfigMap
		want []string
	}{
		{"valid", corev1.ConfigMap{Data: map[string]string{"app.conf": "x", "KEY_1": "y"}, BinaryData: map[string][]byte{"b.bin": {1}}}, nil},
		{"bad data key", corev1.ConfigMap{Data: map[string]string{"a b": "x"}}, []string{"FieldValueInvalid data[a b]"}},
		{"bad binary key", corev1.ConfigMap{BinaryData: map[string][]byte{"..": {1}}}, []string{"FieldValueInvalid binaryData[..]"}},
		{"key in both", corev1.ConfigMap{Data: map[string]string{"k": "x"}, BinaryData: map[string][]byte{"k": {1}}}, []string{"FieldValueInvalid data[k]"}},
		{"too large", corev1.ConfigMap{Data: map[string]string{"k": strings.Repeat("x", MaxSize)}}, []string{"FieldValueTooLong data"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cm.ObjectMeta = metav1.ObjectMeta{Name: "c", Namespace: "default"}
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), &tc.cm), tc.want...)
		})
	}
}

func TestValidateUpdateImmutable(t *testing.T) {
	yes, no := true, false
	old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{"k": "v"}, Immutable: &yes}
	cases := []struct {
		name string
		mut  func(*corev1.ConfigMap)
		want []string
	}{
		{"labels may change", func(c *corev1.ConfigMap) { c.Labels = map[string]string{"a": "b"} }, nil},
		{"data frozen", func(c *corev1.ConfigMap) { c.Data["k"] = "w" }, []string{"FieldValueForbidden data"}},
		{"binaryData frozen", func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"b": {1}} }, []string{"FieldValueForbidden binaryData"}},
		{"flag frozen", func(c *corev1.ConfigMap) { c.Immutable = &no }, []string{"FieldValueForbidden immutable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := old.DeepCopy()
			tc.mut(c)
			registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), c, old), tc.want...)
		})
	}
	mutable := old.DeepCopy()
	mutable.Immutable = nil
	changed := mutable.DeepCopy()
	changed.Data["k"] = "w"
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), changed, mutable))
}
