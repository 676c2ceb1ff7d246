package statefulset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	"slices"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/pod"
	"github.com/skiff-dev/skiff/internal/apiserver/registry/rollout"
)

// Strategy returns the registry strategy of apps/v1 statefulsets. Only metadata is selectable.
func Strategy() registry.Strategy {
	return registry.Typed[*appsv1.StatefulSet]{
		Default:              Default,
		Validate:             Validate,
		ValidateUpdate:       ValidateUpdate,
		ValidateStatusUpdate: ValidateStatusUpdate,
	}.Strategy()
}

// Default applies the apps/v1 defaults; set values are kept.
func Default(ss *appsv1.StatefulSet) {
	s := &ss.Spec
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	}
	if s.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
		ru := s.UpdateStrategy.RollingUpdate
		if ru.Partition == nil {
			ru.Partition = ptr.To[int32](0)
		}
		// maxUnavailable is beta and on by default upstream, which defaults it to 1.
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		}
	}
	if s.PersistentVolumeClaimRetentionPolicy == nil {
		s.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	rp := s.PersistentVolumeClaimRetentionPolicy
	if rp.WhenDeleted == "" {
		rp.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if rp.WhenScaled == "" {
		rp.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if s.Replicas == nil {
		s.Replicas = ptr.To[int32](1)
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr.To[int32](10)
	}
	for i := range s.VolumeClaimTemplates {
		c := &s.VolumeClaimTemplates[i]
		pod.DefaultPersistentVolumeClaimSpec(&c.Spec)
		// Claim templates are whole PersistentVolumeClaims and carry the claim's default phase too.
		if c.Status.Phase == "" {
			c.Status.Phase = corev1.ClaimPending
		}
	}
	pod.DefaultPodTemplateSpec(&s.Template)
}

var (
	supportedPodManagement = []appsv1.PodManagementPolicyType{appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement}
	supportedRetention     = []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
)

// Validate checks a statefulset's spec.
func Validate(ss *appsv1.StatefulSet) field.ErrorList {
	specPath := field.NewPath("spec")
	s := &ss.Spec
	var errs field.ErrorList
	switch {
	case s.PodManagementPolicy == "":
		errs = append(errs, field.Required(specPath.Child("podManagementPolicy"), ""))
	case !slices.Contains(supportedPodManagement, s.PodManagementPolicy):
		errs = append(errs, field.NotSupported(specPath.Child("podManagementPolicy"), s.PodManagementPolicy, supportedPodManagement))
	}
	errs = append(errs, validateUpdateStrategy(&s.UpdateStrategy, specPath.Child("updateStrategy"))...)
	if rp := s.PersistentVolumeClaimRetentionPolicy; rp != nil {
		pp := specPath.Child("persistentVolumeClaimRetentionPolicy")
		if !slices.Contains(supportedRetention, rp.WhenDeleted) {
			errs = append(errs, field.NotSupported(pp.Child("whenDeleted"), rp.WhenDeleted, supportedRetention))
		}
		if !slices.Contains(supportedRetention, rp.WhenScaled) {
			errs = append(errs, field.NotSupported(pp.Child("whenScaled"), rp.WhenScaled, supportedRetention))
		}
	}
	if s.Replicas != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*s.Replicas), specPath.Child("replicas"))...)
	}
	if s.Ordinals != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(s.Ordinals.Start), specPath.Child("ordinals", "start"))...)
	}
	errs = append(errs, rollout.ValidateMinReadyAndHistory(s.MinReadySeconds, s.RevisionHistoryLimit, specPath)...)
	if s.ServiceName != "" {
		// The governing service names the pods' DNS records, so it must be a valid service name.
		for _, msg := range apivalidation.NameIsDNS1035Label(s.ServiceName, false) {
			errs = append(errs, field.Invalid(specPath.Child("serviceName"), s.ServiceName, msg))
		}
	}
	errs = append(errs, pod.ValidateTemplateSelector(s.Selector, &s.Template, "statefulset", specPath)...)
	errs = append(errs, pod.ValidatePodTemplateSpec(templateWithClaims(s), specPath.Child("template"))...)
	errs = append(errs, pod.ValidateLongRunningTemplate(&s.Template, "StatefulSet", specPath.Child("template"))...)
	errs = append(errs, validateClaimTemplates(s.VolumeClaimTemplates, specPath.Child("volumeClaimTemplates"))...)
	return errs
}

// templateWithClaims is the template as the controller will stamp pods from it: each claim template
// becomes a volume of the same name (replacing a template volume of that name), so mounts of
// claim templates, the usual way to give each replica its own storage, are not "not found".
func templateWithClaims(s *appsv1.StatefulSetSpec) *corev1.PodTemplateSpec {
	if len(s.VolumeClaimTemplates) == 0 {
		return &s.Template
	}
	t := s.Template.DeepCopy()
	claims := make(map[string]bool, len(s.VolumeClaimTemplates))
	var vols []corev1.Volume
	for _, c := range s.VolumeClaimTemplates {
		if c.Name == "" || claims[c.Name] {
			continue // reported by validateClaimTemplates
		}
		claims[c.Name] = true
		vols = append(vols, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name},
		}})
	}
	for _, v := range t.Spec.Volumes {
		if !claims[v.Name] {
			vols = append(vols, v)
		}
	}
	t.Spec.Volumes = vols
	return t
}

func validateUpdateStrategy(u *appsv1.StatefulSetUpdateStrategy, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch u.Type {
	case appsv1.OnDeleteStatefulSetStrategyType:
		if u.RollingUpdate != nil {
			errs = append(errs, field.Invalid(fldPath.Child("rollingUpdate"), u.RollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		ru := u.RollingUpdate
		if ru == nil {
			break
		}
		rp := fldPath.Child("rollingUpdate")
		if ru.Partition != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*ru.Partition), rp.Child("partition"))...)
		}
		if ru.MaxUnavailable != nil {
			mp := rp.Child("maxUnavailable")
			errs = append(errs, rollout.ValidateIntOrPercent(ru.MaxUnavailable, mp)...)
			if rollout.IsZero(ru.MaxUnavailable) {
				errs = append(errs, field.Invalid(mp, ru.MaxUnavailable, "cannot be 0"))
			}
			errs = append(errs, rollout.ValidateAtMost100Percent(ru.MaxUnavailable, mp)...)
		}
	case "":
		errs = append(errs, field.Required(fldPath.Child("type"), ""))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("type"), u.Type,
			[]appsv1.StatefulSetUpdateStrategyType{appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType}))
	}
	return errs
}

func validateClaimTemplates(claims []corev1.PersistentVolumeClaim, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i := range claims {
		c := &claims[i]
		p := fldPath.Index(i)
		np := p.Child("metadata", "name")
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(np, ""))
		case names.Has(c.Name):
			errs = append(errs, field.Duplicate(np, c.Name))
		default:
			for _, msg := range apivalidation.NameIsDNSSubdomain(c.Name, false) {
				errs = append(errs, field.Invalid(np, c.Name, msg))
			}
		}
		names.Insert(c.Name)
		errs = append(errs, pod.ValidatePersistentVolumeClaimSpec(&c.Spec, p.Child("spec"))...)
	}
	return errs
}

// updateForbiddenMessage lists what a statefulset update may change; everything else is fixed because
// pods and claims were already created from it. Clients match on this text, so it reads like upstream's.
const updateForbiddenMessage = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', " +
	"'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"

// ValidateUpdate checks an update: the new spec must be valid and only the mutable fields may change.
func ValidateUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	errs := Validate(ss)
	rest := ss.Spec.DeepCopy()
	rest.Replicas = old.Spec.Replicas
	rest.Ordinals = old.Spec.Ordinals
	rest.Template = old.Spec.Template
	rest.UpdateStrategy = old.Spec.UpdateStrategy
	rest.RevisionHistoryLimit = old.Spec.RevisionHistoryLimit
	rest.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	rest.MinReadySeconds = old.Spec.MinReadySeconds
	if !equality.Semantic.DeepEqual(*rest, old.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), updateForbiddenMessage))
	}
	return errs
}

// ValidateStatusUpdate checks the counters the StatefulSet controller writes.
func ValidateStatusUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	st, p := &ss.Status, field.NewPath("status")
	var errs field.ErrorList
	for _, c := range []struct {
		name string
		v    int64
	}{
		{"replicas", int64(st.Replicas)}, {"readyReplicas", int64(st.ReadyReplicas)}, {"currentReplicas", int64(st.CurrentReplicas)},
		{"updatedReplicas", int64(st.UpdatedReplicas)}, {"availableReplicas", int64(st.AvailableReplicas)}, {"observedGeneration", st.ObservedGeneration},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(c.v, p.Child(c.name))...)
	}
	for _, c := range []struct {
		name string
		v    int32
	}{{"readyReplicas", st.ReadyReplicas}, {"currentReplicas", st.CurrentReplicas}, {"updatedReplicas", st.UpdatedReplicas}} {
		if c.v > st.Replicas {
			errs = append(errs, field.Invalid(p.Child(c.name), c.v, "cannot be greater than status.replicas"))
		}
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	return append(errs, rollout.ValidateCollisionCount(st.CollisionCount, old.Status.CollisionCount, p.Child("collisionCount"))...)
}
