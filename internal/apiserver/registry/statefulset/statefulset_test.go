package statefulset

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func base() *appsv1.StatefulSet {
	labels := map[string]string{"app": "db"}
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template:    registrytest.PodTemplate(labels),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	Strategy().Default(ss)
	return ss
}

func TestDefault(t *testing.T) {
	s := base().Spec
	if s.PodManagementPolicy != appsv1.OrderedReadyPodManagement || s.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType ||
		*s.UpdateStrategy.RollingUpdate.Partition != 0 || s.UpdateStrategy.RollingUpdate.MaxUnavailable.IntValue() != 1 ||
		*s.Replicas != 1 || *s.RevisionHistoryLimit != 10 ||
		s.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		s.PersistentVolumeClaimRetentionPolicy.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		*s.VolumeClaimTemplates[0].Spec.VolumeMode != corev1.PersistentVolumeFilesystem ||
		s.VolumeClaimTemplates[0].Status.Phase != corev1.ClaimPending {
		t.Errorf("defaults missing: %+v", s)
	}
	kept := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
		PodManagementPolicy: appsv1.ParallelPodManagement,
		UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
		PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType},
	}}
	Default(kept)
	if kept.Spec.PodManagementPolicy != appsv1.ParallelPodManagement || kept.Spec.UpdateStrategy.RollingUpdate != nil ||
		kept.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType ||
		kept.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("set values overridden: %+v", kept.Spec)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(ss *appsv1.StatefulSet)
		want   []string
	}{
		{"valid", func(ss *appsv1.StatefulSet) {}, nil},
		{"no service name ok", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "" }, nil},
		{"bad service name", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "1db" }, []string{"FieldValueInvalid spec.serviceName"}},
		{"bad pod management", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "Random" }, []string{"FieldValueNotSupported spec.podManagementPolicy"}},
		{"OnDelete with rollingUpdate", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType }, []string{"FieldValueInvalid spec.updateStrategy.rollingUpdate"}},
		{"negative partition", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](-1) }, []string{"FieldValueInvalid spec.updateStrategy.rollingUpdate.partition"}},
		{"maxUnavailable zero", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		}, []string{"FieldValueInvalid spec.updateStrategy.rollingUpdate.maxUnavailable"}},
		{"bad retention", func(ss *appsv1.StatefulSet) { ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" }, []string{"FieldValueNotSupported spec.persistentVolumeClaimRetentionPolicy.whenScaled"}},
		{"negative ordinals", func(ss *appsv1.StatefulSet) { ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} }, []string{"FieldValueInvalid spec.ordinals.start"}},
		{"selector mismatch", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Labels = nil }, []string{"FieldValueInvalid spec.template.metadata.labels"}},
		{"claim without access modes", func(ss *appsv1.StatefulSet) { ss.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil }, []string{"FieldValueRequired spec.volumeClaimTemplates[0].spec.accessModes"}},
		{"claim without storage", func(ss *appsv1.StatefulSet) { ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests = nil }, []string{"FieldValueRequired spec.volumeClaimTemplates[0].spec.resources.requests[storage]"}},
		{"duplicate claim", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = append(ss.Spec.VolumeClaimTemplates, ss.Spec.VolumeClaimTemplates[0])
		}, []string{"FieldValueDuplicate spec.volumeClaimTemplates[1].metadata.name"}},
		{"mount of a claim template", func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}, nil},
		{"claim template replaces a volume of its name", func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			ss.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}, nil},
		{"mount of neither volume nor claim", func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "logs", MountPath: "/logs"}}
		}, []string{"FieldValueNotFound spec.template.spec.containers[0].volumeMounts[0].name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ss := base()
			tc.mutate(ss)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), ss), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(ss *appsv1.StatefulSet)
		want   []string
	}{
		{"scale", func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr.To[int32](3) }, nil},
		{"template", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.Containers[0].Image = "db:2" }, nil},
		{"partition", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2) }, nil},
		{"retention", func(ss *appsv1.StatefulSet) {
			ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
		}, nil},
		{"minReadySeconds", func(ss *appsv1.StatefulSet) { ss.Spec.MinReadySeconds = 5 }, nil},
		{"history", func(ss *appsv1.StatefulSet) { ss.Spec.RevisionHistoryLimit = ptr.To[int32](3) }, nil},
		{"service name", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "other" }, []string{"FieldValueForbidden spec"}},
		{"pod management", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }, []string{"FieldValueForbidden spec"}},
		{"claim templates", func(ss *appsv1.StatefulSet) { ss.Spec.VolumeClaimTemplates = nil }, []string{"FieldValueForbidden spec"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := base()
			ss := old.DeepCopy()
			tc.mutate(ss)
			errs := Strategy().ValidateUpdate(context.Background(), ss, old)
			registrytest.ExpectErrors(t, errs, tc.want...)
			for _, e := range errs {
				if e.Detail != updateForbiddenMessage {
					t.Errorf("detail = %q", e.Detail)
				}
			}
		})
	}
}

func TestValidateStatusUpdate(t *testing.T) {
	old := base()
	ss := old.DeepCopy()
	ss.Status = appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 2, AvailableReplicas: 1}
	registrytest.ExpectErrors(t, Strategy().ValidateStatusUpdate(context.Background(), ss, old), "FieldValueInvalid status.readyReplicas")
}
