package rbac

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func TestRoles(t *testing.T) {
	read := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	cases := []struct {
		name    string
		rules   []rbacv1.PolicyRule
		cluster bool
		want    []string
	}{
		{"valid", []rbacv1.PolicyRule{read}, false, nil},
		{"non-resource on cluster role", []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}, true, nil},
		{"no verbs", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}, false, []string{"FieldValueRequired rules[0].verbs"}},
		{"no groups or resources", []rbacv1.PolicyRule{{Verbs: []string{"get"}}}, false,
			[]string{"FieldValueRequired rules[0].apiGroups", "FieldValueRequired rules[0].resources"}},
		{"non-resource in role", []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}, false,
			[]string{"FieldValueInvalid rules[0].nonResourceURLs"}},
		{"mixed", []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}, Resources: []string{"pods"}}}, true,
			[]string{"FieldValueInvalid rules[0].nonResourceURLs"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cluster {
				registrytest.ExpectErrors(t, ClusterRoleStrategy().Validate(context.Background(), &rbacv1.ClusterRole{Rules: tc.rules}), tc.want...)
			} else {
				registrytest.ExpectErrors(t, RoleStrategy().Validate(context.Background(), &rbacv1.Role{Rules: tc.rules}), tc.want...)
			}
		})
	}
	agg := &rbacv1.ClusterRole{AggregationRule: &rbacv1.AggregationRule{}}
	registrytest.ExpectErrors(t, ClusterRoleStrategy().Validate(context.Background(), agg), "FieldValueRequired aggregationRule.clusterRoleSelectors")
	agg.AggregationRule.ClusterRoleSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rbac.example.com/aggregate-to-view": "true"}}}
	registrytest.ExpectErrors(t, ClusterRoleStrategy().Validate(context.Background(), agg))
}

func TestBindings(t *testing.T) {
	rb := func(mut func(*rbacv1.RoleBinding)) *rbacv1.RoleBinding {
		b := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "default"},
			RoleRef:    rbacv1.RoleRef{Kind: "Role", Name: "reader"},
			Subjects:   []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "ServiceAccount", Name: "default"}},
		}
		if mut != nil {
			mut(b)
		}
		RoleBindingStrategy().Default(b)
		return b
	}
	b := rb(nil)
	if b.RoleRef.APIGroup != rbacv1.GroupName || b.Subjects[0].APIGroup != rbacv1.GroupName || b.Subjects[1].APIGroup != "" {
		t.Fatalf("defaults: %+v", b)
	}
	cases := []struct {
		name string
		b    *rbacv1.RoleBinding
		want []string
	}{
		{"valid", b, nil},
		{"system role name", rb(func(b *rbacv1.RoleBinding) {
			b.RoleRef = rbacv1.RoleRef{Kind: "ClusterRole", Name: "system:controller:x"}
		}), nil},
		{"bad role kind", rb(func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "Pod" }), []string{"FieldValueNotSupported roleRef.kind"}},
		{"bad role group", rb(func(b *rbacv1.RoleBinding) { b.RoleRef.APIGroup = "example.com" }), []string{"FieldValueNotSupported roleRef.apiGroup"}},
		{"no role name", rb(func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "" }), []string{"FieldValueRequired roleRef.name"}},
		{"bad subject kind", rb(func(b *rbacv1.RoleBinding) { b.Subjects = []rbacv1.Subject{{Kind: "Robot", Name: "r"}} }),
			[]string{"FieldValueNotSupported subjects[0].kind"}},
		{"sa with group", rb(func(b *rbacv1.RoleBinding) {
			b.Subjects = []rbacv1.Subject{{Kind: "ServiceAccount", Name: "x", APIGroup: "rbac.authorization.k8s.io"}}
		}),
			[]string{"FieldValueNotSupported subjects[0].apiGroup"}},
		{"subject without name", rb(func(b *rbacv1.RoleBinding) { b.Subjects = []rbacv1.Subject{{Kind: "Group"}} }),
			[]string{"FieldValueRequired subjects[0].name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, RoleBindingStrategy().Validate(context.Background(), tc.b), tc.want...)
		})
	}

	crb := &rbacv1.ClusterRoleBinding{RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "sa"}}}
	ClusterRoleBindingStrategy().Default(crb)
	registrytest.ExpectErrors(t, ClusterRoleBindingStrategy().Validate(context.Background(), crb),
		"FieldValueNotSupported roleRef.kind", "FieldValueRequired subjects[0].namespace")

	old := rb(nil)
	upd := old.DeepCopy()
	upd.Subjects = append(upd.Subjects, rbacv1.Subject{Kind: "Group", Name: "devs", APIGroup: rbacv1.GroupName})
	registrytest.ExpectErrors(t, RoleBindingStrategy().ValidateUpdate(context.Background(), upd, old))
	upd.RoleRef.Name = "admin"
	registrytest.ExpectErrors(t, RoleBindingStrategy().ValidateUpdate(context.Background(), upd, old), "FieldValueInvalid roleRef")
}
