package serviceaccount

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		sa   corev1.ServiceAccount
		want []string
	}{
		{"empty", corev1.ServiceAccount{}, nil},
		{"refs", corev1.ServiceAccount{Secrets: []corev1.ObjectReference{{Name: "tok"}}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "reg"}}}, nil},
		{"empty ref", corev1.ServiceAccount{ImagePullSecrets: []corev1.LocalObjectReference{{}}}, []string{"FieldValueRequired imagePullSecrets[0].name"}},
		{"bad ref", corev1.ServiceAccount{Secrets: []corev1.ObjectReference{{Name: "Bad_Name"}}}, []string{"FieldValueInvalid secrets[0].name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), &tc.sa), tc.want...)
		})
	}
}
