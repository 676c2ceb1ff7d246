package pod

import (
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/persistentvolume"
)

// validateVolumes returns the volumes by name so that mounts can be resolved against them.
func validateVolumes(volumes []corev1.Volume, fldPath *field.Path) (map[string]*corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	byName := make(map[string]*corev1.VolumeSource, len(volumes))
	for i := range volumes {
		v := &volumes[i]
		p := fldPath.Index(i)
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(p.Child("name"), ""))
		case byName[v.Name] != nil:
			errs = append(errs, field.Duplicate(p.Child("name"), v.Name))
		default:
			errs = append(errs, labelErrs(p.Child("name"), v.Name)...)
			byName[v.Name] = &v.VolumeSource
		}
		errs = append(errs, validateVolumeSource(&v.VolumeSource, p)...)
	}
	return byName, errs
}

var supportedHostPathTypes = []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev}

func validateVolumeSource(src *corev1.VolumeSource, p *field.Path) field.ErrorList {
	set := setFields(src)
	switch {
	case len(set) == 0:
		return field.ErrorList{field.Required(p, "must specify a volume type")}
	case len(set) > 1:
		return field.ErrorList{field.Forbidden(p.Child(set[1]), "may not specify more than 1 volume type")}
	}
	var errs field.ErrorList
	switch {
	case src.HostPath != nil:
		hp := p.Child("hostPath")
		if src.HostPath.Path == "" {
			errs = append(errs, field.Required(hp.Child("path"), ""))
		}
		errs = append(errs, validateNoBacksteps(src.HostPath.Path, hp.Child("path"))...)
		if t := src.HostPath.Type; t != nil && !slices.Contains(supportedHostPathTypes, *t) {
			errs = append(errs, field.NotSupported(hp.Child("type"), *t, supportedHostPathTypes))
		}
	case src.EmptyDir != nil:
		if l := src.EmptyDir.SizeLimit; l != nil {
			errs = append(errs, nonNegativeQuantity(*l, p.Child("emptyDir", "sizeLimit"))...)
		}
	case src.Secret != nil:
		sp := p.Child("secret")
		errs = append(errs, refNameErrs(src.Secret.SecretName, sp.Child("secretName"))...)
		errs = append(errs, validateMode(src.Secret.DefaultMode, sp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(src.Secret.Items, sp.Child("items"))...)
	case src.ConfigMap != nil:
		cp := p.Child("configMap")
		errs = append(errs, refNameErrs(src.ConfigMap.Name, cp.Child("name"))...)
		errs = append(errs, validateMode(src.ConfigMap.DefaultMode, cp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(src.ConfigMap.Items, cp.Child("items"))...)
	case src.PersistentVolumeClaim != nil:
		errs = append(errs, refNameErrs(src.PersistentVolumeClaim.ClaimName, p.Child("persistentVolumeClaim", "claimName"))...)
	case src.DownwardAPI != nil:
		dp := p.Child("downwardAPI")
		errs = append(errs, validateMode(src.DownwardAPI.DefaultMode, dp.Child("defaultMode"))...)
		errs = append(errs, validateDownwardAPIFiles(src.DownwardAPI.Items, dp.Child("items"))...)
	case src.Projected != nil:
		errs = append(errs, validateProjected(src.Projected, p.Child("projected"))...)
	case src.NFS != nil:
		np := p.Child("nfs")
		if src.NFS.Server == "" {
			errs = append(errs, field.Required(np.Child("server"), ""))
		}
		if src.NFS.Path == "" {
			errs = append(errs, field.Required(np.Child("path"), ""))
		} else if !path.IsAbs(src.NFS.Path) {
			errs = append(errs, field.Invalid(np.Child("path"), src.NFS.Path, "must be an absolute path"))
		}
	case src.GitRepo != nil:
		gp := p.Child("gitRepo")
		if src.GitRepo.Repository == "" {
			errs = append(errs, field.Required(gp.Child("repository"), ""))
		}
		errs = append(errs, validateLocalRelativePath(src.GitRepo.Directory, gp.Child("directory"))...)
	case src.CSI != nil:
		if src.CSI.Driver == "" {
			errs = append(errs, field.Required(p.Child("csi", "driver"), ""))
		}
	case src.Ephemeral != nil:
		ep := p.Child("ephemeral", "volumeClaimTemplate")
		if src.Ephemeral.VolumeClaimTemplate == nil {
			errs = append(errs, field.Required(ep, ""))
		} else {
			errs = append(errs, ValidatePersistentVolumeClaimSpec(&src.Ephemeral.VolumeClaimTemplate.Spec, ep.Child("spec"))...)
		}
	case src.Image != nil:
		ip := p.Child("image")
		if src.Image.Reference == "" {
			errs = append(errs, field.Required(ip.Child("reference"), ""))
		}
		if pp := src.Image.PullPolicy; pp != "" && !slices.Contains(supportedPullPolicies, pp) {
			errs = append(errs, field.NotSupported(ip.Child("pullPolicy"), pp, supportedPullPolicies))
		}
	}
	return errs
}

// validateMode bounds file modes to permission bits: setuid and friends have no business in a
// projected file.
func validateMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > 0777) {
		return field.ErrorList{field.Invalid(p, *mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		p := fldPath.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(p.Child("key"), ""))
		}
		errs = append(errs, validateItemPath(it.Path, p.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, p.Child("mode"))...)
	}
	return errs
}

func validateItemPath(itemPath string, p *field.Path) field.ErrorList {
	if itemPath == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	if len(itemPath) > 4096 {
		errs = append(errs, field.TooLong(p, itemPath, 4096))
	}
	return append(errs, validateLocalRelativePath(itemPath, p)...)
}

func validateDownwardAPIFiles(items []corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		p := fldPath.Index(i)
		errs = append(errs, validateItemPath(it.Path, p.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, p.Child("mode"))...)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.FieldRef != nil:
			errs = append(errs, validateFieldRef(it.FieldRef, volumeFieldPaths, p.Child("fieldRef"))...)
		case it.ResourceFieldRef != nil:
			errs = append(errs, validateResourceFieldRef(it.ResourceFieldRef, true, p.Child("resourceFieldRef"))...)
		default:
			errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return errs
}

func validateProjected(src *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := validateMode(src.DefaultMode, fldPath.Child("defaultMode"))
	paths := sets.New[string]()
	addPath := func(itemPath string, p *field.Path) {
		if itemPath == "" {
			return
		}
		if paths.Has(itemPath) {
			errs = append(errs, field.Invalid(p, itemPath, "conflicting duplicate paths"))
		}
		paths.Insert(itemPath)
	}
	for i := range src.Sources {
		s := &src.Sources[i]
		p := fldPath.Child("sources").Index(i)
		set := setFields(s)
		switch {
		case len(set) == 0:
			errs = append(errs, field.Required(p, "must specify exactly 1 of: secret, downwardAPI, configMap, serviceAccountToken, clusterTrustBundle, podCertificate"))
			continue
		case len(set) > 1:
			errs = append(errs, field.Forbidden(p.Child(set[1]), "may not specify more than 1 volume type per source"))
			continue
		}
		switch {
		case s.Secret != nil:
			sp := p.Child("secret")
			errs = append(errs, validateKeyToPaths(s.Secret.Items, sp.Child("items"))...)
			for j, it := range s.Secret.Items {
				addPath(it.Path, sp.Child("items").Index(j).Child("path"))
			}
		case s.ConfigMap != nil:
			cp := p.Child("configMap")
			errs = append(errs, validateKeyToPaths(s.ConfigMap.Items, cp.Child("items"))...)
			for j, it := range s.ConfigMap.Items {
				addPath(it.Path, cp.Child("items").Index(j).Child("path"))
			}
		case s.DownwardAPI != nil:
			dp := p.Child("downwardAPI")
			errs = append(errs, validateDownwardAPIFiles(s.DownwardAPI.Items, dp.Child("items"))...)
			for j, it := range s.DownwardAPI.Items {
				addPath(it.Path, dp.Child("items").Index(j).Child("path"))
			}
		case s.ServiceAccountToken != nil:
			tp := p.Child("serviceAccountToken")
			if e := s.ServiceAccountToken.ExpirationSeconds; e != nil {
				switch {
				case *e < 600:
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
				case *e > 1<<32:
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *e, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			errs = append(errs, validateItemPath(s.ServiceAccountToken.Path, tp.Child("path"))...)
			addPath(s.ServiceAccountToken.Path, tp.Child("path"))
		case s.ClusterTrustBundle != nil:
			bp := p.Child("clusterTrustBundle")
			errs = append(errs, validateItemPath(s.ClusterTrustBundle.Path, bp.Child("path"))...)
			addPath(s.ClusterTrustBundle.Path, bp.Child("path"))
		case s.PodCertificate != nil:
			cp := p.Child("podCertificate")
			if s.PodCertificate.SignerName == "" {
				errs = append(errs, field.Required(cp.Child("signerName"), ""))
			}
		}
	}
	return errs
}

var supportedAccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod}

// ValidatePersistentVolumeClaimSpec checks the claim spec embedded in StatefulSet claim templates and
// ephemeral volumes.
func ValidatePersistentVolumeClaimSpec(s *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.AccessModes) == 0 {
		errs = append(errs, field.Required(fldPath.Child("accessModes"), "at least 1 access mode is required"))
	}
	for i, m := range s.AccessModes {
		if !slices.Contains(supportedAccessModes, m) {
			errs = append(errs, field.NotSupported(fldPath.Child("accessModes").Index(i), m, supportedAccessModes))
		}
	}
	if slices.Contains(s.AccessModes, corev1.ReadWriteOncePod) && len(s.AccessModes) > 1 {
		errs = append(errs, field.Forbidden(fldPath.Child("accessModes"), "may not use ReadWriteOncePod with other access modes"))
	}
	errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	storage := fldPath.Child("resources", "requests").Key(string(corev1.ResourceStorage))
	q, ok := s.Resources.Requests[corev1.ResourceStorage]
	switch {
	case !ok && s.DataSource == nil && s.DataSourceRef == nil:
		errs = append(errs, field.Required(storage, ""))
	case ok && q.Sign() <= 0:
		errs = append(errs, field.Invalid(storage, q.String(), "must be greater than zero"))
	}
	errs = append(errs, persistentvolume.ValidateVolumeMode(s.VolumeMode, fldPath.Child("volumeMode"))...)
	if s.StorageClassName != nil && *s.StorageClassName != "" {
		errs = append(errs, nameErrs(fldPath.Child("storageClassName"), *s.StorageClassName, apivalidation.NameIsDNSSubdomain)...)
	}
	return errs
}
