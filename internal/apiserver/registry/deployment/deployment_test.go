package deployment

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func base() *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: registrytest.PodTemplate(labels),
		},
	}
	Strategy().Default(d)
	return d
}

func TestDefault(t *testing.T) {
	d := base()
	s := d.Spec
	if *s.Replicas != 1 || s.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		s.Strategy.RollingUpdate.MaxSurge.String() != "25%" || s.Strategy.RollingUpdate.MaxUnavailable.String() != "25%" ||
		*s.RevisionHistoryLimit != 10 || *s.ProgressDeadlineSeconds != 600 {
		t.Errorf("defaults not applied: %+v", s)
	}
	if s.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways || s.Template.Spec.Containers[0].ImagePullPolicy == "" {
		t.Errorf("template not defaulted: %+v", s.Template.Spec)
	}
	if _, ok := s.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
		t.Error("pod-template-hash must never be defaulted")
	}

	kept := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas:             ptr.To[int32](0),
		Strategy:             appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
		RevisionHistoryLimit: ptr.To[int32](2),
	}}
	Default(kept)
	if *kept.Spec.Replicas != 0 || kept.Spec.Strategy.RollingUpdate != nil || *kept.Spec.RevisionHistoryLimit != 2 {
		t.Errorf("set values overridden: %+v", kept.Spec)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   []string
	}{
		{"valid", func(d *appsv1.Deployment) {}, nil},
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, []string{"FieldValueRequired spec.selector"}},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, []string{"FieldValueInvalid spec.selector"}},
		{"selector mismatch", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} }, []string{"FieldValueInvalid spec.template.metadata.labels"}},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) }, []string{"FieldValueInvalid spec.replicas"}},
		{"both zero", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(0)), MaxUnavailable: ptr.To(intstr.FromString("0%"))}
		}, []string{"FieldValueInvalid spec.strategy.rollingUpdate.maxUnavailable"}},
		{"unavailable over 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("110%"))
		}, []string{"FieldValueInvalid spec.strategy.rollingUpdate.maxUnavailable"}},
		{"recreate with rollingUpdate", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }, []string{"FieldValueForbidden spec.strategy.rollingUpdate"}},
		{"unknown strategy", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }, []string{"FieldValueNotSupported spec.strategy.type"}},
		{"restartPolicy Never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, []string{"FieldValueNotSupported spec.template.spec.restartPolicy"}},
		{"activeDeadlineSeconds", func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](5) }, []string{"FieldValueForbidden spec.template.spec.activeDeadlineSeconds"}},
		{"bad template container", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Name = "" }, []string{"FieldValueRequired spec.template.spec.containers[0].name"}},
		{"progress deadline below minReady", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 700 }, []string{"FieldValueInvalid spec.progressDeadlineSeconds"}},
		{"negative history", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](-1) }, []string{"FieldValueInvalid spec.revisionHistoryLimit"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := base()
			tc.mutate(d)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), d), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   []string
	}{
		{"scale", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) }, nil},
		{"new image", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:2" }, nil},
		{"selector change", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "fe"}}
			d.Spec.Template.Labels["tier"] = "fe"
		}, []string{"FieldValueInvalid spec.selector"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := base()
			d := old.DeepCopy()
			tc.mutate(d)
			errs := Strategy().ValidateUpdate(context.Background(), d, old)
			registrytest.ExpectErrors(t, errs, tc.want...)
			for _, e := range errs {
				if e.Detail != "field is immutable" {
					t.Errorf("detail = %q", e.Detail)
				}
			}
		})
	}
}

func TestValidateStatusUpdate(t *testing.T) {
	cases := []struct {
		name   string
		status appsv1.DeploymentStatus
		want   []string
	}{
		{"valid", appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 2}, nil},
		{"negative", appsv1.DeploymentStatus{UnavailableReplicas: -1}, []string{"FieldValueInvalid status.unavailableReplicas"}},
		{"updated above replicas", appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 2}, []string{"FieldValueInvalid status.updatedReplicas"}},
		{"available above ready", appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 1, AvailableReplicas: 2}, []string{"FieldValueInvalid status.availableReplicas"}},
		{"collision count decremented", appsv1.DeploymentStatus{CollisionCount: ptr.To[int32](1)}, []string{"FieldValueInvalid status.collisionCount"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := base()
			old.Status.CollisionCount = ptr.To[int32](2)
			if tc.status.CollisionCount == nil {
				old.Status.CollisionCount = nil
			}
			d := old.DeepCopy()
			d.Status = tc.status
			registrytest.ExpectErrors(t, Strategy().ValidateStatusUpdate(context.Background(), d, old), tc.want...)
		})
	}
}
