package secret

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func TestDefault(t *testing.T) {
	s := &corev1.Secret{Data: map[string][]byte{"a": []byte("1"), "b": []byte("2")}, StringData: map[string]string{"b": "two", "c": "3"}}
	Default(s)
	if s.Type != corev1.SecretTypeOpaque || s.StringData != nil ||
		string(s.Data["a"]) != "1" || string(s.Data["b"]) != "two" || string(s.Data["c"]) != "3" {
		t.Fatalf("defaults: %+v", s)
	}
	s = &corev1.Secret{Type: corev1.SecretTypeTLS}
	Default(s)
	if s.Type != corev1.SecretTypeTLS {
		t.Fatalf("type overridden")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		s    corev1.Secret
		want []string
	}{
		{"opaque", corev1.Secret{Data: map[string][]byte{"x": nil}}, nil},
		{"bad key", corev1.Secret{Data: map[string][]byte{"x/y": nil}}, []string{"FieldValueInvalid data[x/y]"}},
		{"too large", corev1.Secret{Data: map[string][]byte{"x": []byte(strings.Repeat("a", MaxSize))}}, []string{"FieldValueTooLong data"}},
		{"tls valid", corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}}, nil},
		{"tls missing key", corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil}}, []string{"FieldValueRequired data[tls.key]"}},
		{"dockerconfigjson valid", corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}}, nil},
		{"dockerconfigjson missing", corev1.Secret{Type: corev1.SecretTypeDockerConfigJson}, []string{"FieldValueRequired data[.dockerconfigjson]"}},
		{"dockerconfigjson not json", corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte("{")}},
			[]string{"FieldValueInvalid data[.dockerconfigjson]"}},
		{"dockercfg missing", corev1.Secret{Type: corev1.SecretTypeDockercfg}, []string{"FieldValueRequired data[.dockercfg]"}},
		{"basic auth empty", corev1.Secret{Type: corev1.SecretTypeBasicAuth}, []string{"FieldValueRequired data[password]", "FieldValueRequired data[username]"}},
		{"basic auth user only", corev1.Secret{Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"username": nil}}, nil},
		{"ssh missing", corev1.Secret{Type: corev1.SecretTypeSSHAuth}, []string{"FieldValueRequired data[ssh-privatekey]"}},
		{"sa token without annotation", corev1.Secret{Type: corev1.SecretTypeServiceAccountToken},
			[]string{"FieldValueRequired metadata.annotations[kubernetes.io/service-account.name]"}},
		{"sa token", corev1.Secret{Type: corev1.SecretTypeServiceAccountToken, ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"kubernetes.io/service-account.name": "default"}}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			Default(&tc.s)
			errs := Strategy().Validate(context.Background(), &tc.s)
			registrytest.ExpectErrors(t, errs, tc.want...)
			if len(errs) > 0 && strings.Contains(errs.ToAggregate().Error(), "{") && tc.s.Type == corev1.SecretTypeDockerConfigJson {
				t.Fatalf("secret content leaked into error: %v", errs)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	yes := true
	old := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")}}
	frozen := old.DeepCopy()
	frozen.Immutable = &yes
	cases := []struct {
		name string
		old  *corev1.Secret
		mut  func(*corev1.Secret)
		want []string
	}{
		{"data change", old, func(s *corev1.Secret) { s.Data["k"] = []byte("w") }, nil},
		{"type change", old, func(s *corev1.Secret) { s.Type = "example.com/other" }, []string{"FieldValueInvalid type"}},
		{"immutable data change", frozen, func(s *corev1.Secret) { s.Data["k"] = []byte("w") }, []string{"FieldValueForbidden data"}},
		{"immutable unset", frozen, func(s *corev1.Secret) { s.Immutable = nil }, []string{"FieldValueForbidden immutable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.old.DeepCopy()
			tc.mut(s)
			registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), s, tc.old), tc.want...)
		})
	}
	if got := Strategy().SelectableFields(old); got["type"] != "Opaque" {
		t.Fatalf("selectable fields: %v", got)
	}
}
