package daemonset

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func base() *appsv1.DaemonSet {
	labels := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: registrytest.PodTemplate(labels)},
	}
	Strategy().Default(ds)
	return ds
}

func TestDefault(t *testing.T) {
	ds := base()
	u := ds.Spec.UpdateStrategy
	if u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate.MaxUnavailable.IntValue() != 1 ||
		u.RollingUpdate.MaxSurge.IntValue() != 0 || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("defaults missing: %+v", ds.Spec)
	}
	onDelete := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}}
	Default(onDelete)
	if onDelete.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Error("OnDelete must not get rollingUpdate")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(ds *appsv1.DaemonSet)
		want   []string
	}{
		{"valid", func(ds *appsv1.DaemonSet) {}, nil},
		{"empty selector", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} }, []string{"FieldValueInvalid spec.selector"}},
		{"both zero", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		}, []string{"FieldValueInvalid spec.updateStrategy.rollingUpdate.maxUnavailable"}},
		{"surge over 100%", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("120%"))
		}, []string{"FieldValueInvalid spec.updateStrategy.rollingUpdate.maxSurge"}},
		{"bad type", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Canary" }, []string{"FieldValueNotSupported spec.updateStrategy.type"}},
		{"activeDeadlineSeconds", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](1) }, []string{"FieldValueForbidden spec.template.spec.activeDeadlineSeconds"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := base()
			tc.mutate(ds)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), ds), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := base()
	img := old.DeepCopy()
	img.Spec.Template.Spec.Containers[0].Image = "agent:2"
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), img, old))
	sel := old.DeepCopy()
	sel.Spec.Selector.MatchLabels = map[string]string{"app": "agent", "x": "y"}
	sel.Spec.Template.Labels = map[string]string{"app": "agent", "x": "y"}
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), sel, old), "FieldValueInvalid spec.selector")
}

func TestValidateStatusUpdate(t *testing.T) {
	old := base()
	ds := old.DeepCopy()
	ds.Status = appsv1.DaemonSetStatus{NumberReady: -1}
	registrytest.ExpectErrors(t, Strategy().ValidateStatusUpdate(context.Background(), ds, old), "FieldValueInvalid status.numberReady")
}
