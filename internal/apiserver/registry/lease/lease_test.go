package lease

import (
	"context"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		spec coordinationv1.LeaseSpec
		want []string
	}{
		{"valid", coordinationv1.LeaseSpec{HolderIdentity: ptr("node1"), LeaseDurationSeconds: ptr(int32(40)), LeaseTransitions: ptr(int32(0))}, nil},
		{"zero duration", coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr(int32(0))}, []string{"FieldValueInvalid spec.leaseDurationSeconds"}},
		{"negative transitions", coordinationv1.LeaseSpec{LeaseTransitions: ptr(int32(-1))}, []string{"FieldValueInvalid spec.leaseTransitions"}},
		{"preferred holder without strategy", coordinationv1.LeaseSpec{PreferredHolder: ptr("b")}, []string{"FieldValueForbidden spec.preferredHolder"}},
		{"preferred holder with strategy", coordinationv1.LeaseSpec{PreferredHolder: ptr("b"),
			Strategy: ptr(coordinationv1.OldestEmulationVersion)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), &coordinationv1.Lease{Spec: tc.spec}), tc.want...)
		})
	}
}
