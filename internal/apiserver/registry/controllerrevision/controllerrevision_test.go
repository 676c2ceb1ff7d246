package controllerrevision

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func base() *appsv1.ControllerRevision {
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c", Namespace: "default"},
		Data:       runtime.RawExtension{Raw: []byte(`{"spec":{"template":{}}}`)},
		Revision:   1,
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(r *appsv1.ControllerRevision)
		want   []string
	}{
		{"valid", func(r *appsv1.ControllerRevision) {}, nil},
		{"no data", func(r *appsv1.ControllerRevision) { r.Data = runtime.RawExtension{} }, []string{"FieldValueRequired data"}},
		{"negative revision", func(r *appsv1.ControllerRevision) { r.Revision = -1 }, []string{"FieldValueInvalid revision"}},
	}
	for _, tc := range cases {
		r := base()
		tc.mutate(r)
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), r), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := base()
	bumped := old.DeepCopy()
	bumped.Revision = 5
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), bumped, old))
	changed := old.DeepCopy()
	changed.Data = runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), changed, old), "FieldValueInvalid data")
}
