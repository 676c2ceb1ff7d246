package pod

import (
	"fmt"
	"math"
	"net"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidatePod checks a whole pod on create. Metadata is the generic code's job.
func ValidatePod(p *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := ValidatePodSpec(&p.Spec, specPath)
	errs = append(errs, validateImageWhitespace(&p.Spec, specPath)...)
	if len(p.Spec.EphemeralContainers) > 0 {
		// Ephemeral containers are added to a running pod through their own subresource.
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	return errs
}

// ValidatePodTemplateSpec checks a pod template embedded at fldPath (e.g. spec.template): its labels and
// annotations, which the generic metadata validation never sees, and its pod spec.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	metaPath := fldPath.Child("metadata")
	errs := metav1validation.ValidateLabels(t.Labels, metaPath.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, metaPath.Child("annotations"))...)
	specPath := fldPath.Child("spec")
	errs = append(errs, ValidatePodSpec(&t.Spec, specPath)...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

var (
	supportedRestartPolicies = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	supportedDNSPolicies     = []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}
	supportedProtocols       = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	supportedPullPolicies    = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	supportedTermMsgPolicies = []corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError}
)

// ValidatePodSpec checks a pod spec found at fldPath; every error path starts at fldPath.
func ValidatePodSpec(s *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	volumes, vErrs := validateVolumes(s.Volumes, fldPath.Child("volumes"))
	errs = append(errs, vErrs...)

	names := sets.New[string]()
	errs = append(errs, validateContainers(s.InitContainers, true, s, volumes, names, fldPath.Child("initContainers"))...)
	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(fldPath.Child("containers"), ""))
	}
	errs = append(errs, validateContainers(s.Containers, false, s, volumes, names, fldPath.Child("containers"))...)
	for i := range s.EphemeralContainers {
		c := &s.EphemeralContainers[i]
		p := fldPath.Child("ephemeralContainers").Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if names.Has(c.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		}
		names.Insert(c.Name)
	}
	errs = append(errs, checkHostPortConflicts(s, fldPath)...)

	switch {
	case s.RestartPolicy == "":
		errs = append(errs, field.Required(fldPath.Child("restartPolicy"), ""))
	case !slices.Contains(supportedRestartPolicies, s.RestartPolicy):
		errs = append(errs, field.NotSupported(fldPath.Child("restartPolicy"), s.RestartPolicy, supportedRestartPolicies))
	}
	errs = append(errs, validateDNS(s, fldPath)...)
	errs = append(errs, metav1validation.ValidateLabels(s.NodeSelector, fldPath.Child("nodeSelector"))...)

	if s.ServiceAccountName != "" {
		errs = append(errs, nameErrs(fldPath.Child("serviceAccountName"), s.ServiceAccountName, apivalidation.NameIsDNSSubdomain)...)
	}
	if s.DeprecatedServiceAccount != "" {
		errs = append(errs, nameErrs(fldPath.Child("serviceAccount"), s.DeprecatedServiceAccount, apivalidation.NameIsDNSSubdomain)...)
	}
	if s.NodeName != "" {
		errs = append(errs, nameErrs(fldPath.Child("nodeName"), s.NodeName, apivalidation.NameIsDNSSubdomain)...)
	}
	if s.Hostname != "" {
		errs = append(errs, labelErrs(fldPath.Child("hostname"), s.Hostname)...)
	}
	if s.Subdomain != "" {
		errs = append(errs, labelErrs(fldPath.Child("subdomain"), s.Subdomain)...)
	}
	if s.HostnameOverride != nil {
		p := fldPath.Child("hostnameOverride")
		for _, msg := range validation.IsDNS1123Subdomain(*s.HostnameOverride) {
			errs = append(errs, field.Invalid(p, *s.HostnameOverride, msg))
		}
		if s.SetHostnameAsFQDN != nil && *s.SetHostnameAsFQDN {
			errs = append(errs, field.Invalid(p, *s.HostnameOverride, "may not be set when `setHostnameAsFQDN` is true"))
		}
	}
	if s.PriorityClassName != "" {
		errs = append(errs, nameErrs(fldPath.Child("priorityClassName"), s.PriorityClassName, apivalidation.NameIsDNSSubdomain)...)
	}
	if s.RuntimeClassName != nil {
		errs = append(errs, nameErrs(fldPath.Child("runtimeClassName"), *s.RuntimeClassName, apivalidation.NameIsDNSSubdomain)...)
	}
	if s.ActiveDeadlineSeconds != nil {
		if v := *s.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs = append(errs, field.Invalid(fldPath.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	errs = append(errs, validatePodSecurityContext(s, fldPath.Child("securityContext"))...)
	errs = append(errs, ValidateTolerations(s.Tolerations, fldPath.Child("tolerations"))...)
	errs = append(errs, validateAffinity(s.Affinity, fldPath.Child("affinity"))...)
	errs = append(errs, validateTopologySpread(s.TopologySpreadConstraints, fldPath.Child("topologySpreadConstraints"))...)
	errs = append(errs, validateHostAliases(s.HostAliases, fldPath.Child("hostAliases"))...)
	for i, g := range s.ReadinessGates {
		errs = append(errs, qualifiedNameErrs(fldPath.Child("readinessGates").Index(i).Child("conditionType"), string(g.ConditionType))...)
	}
	errs = append(errs, validateSchedulingGates(s.SchedulingGates, fldPath.Child("schedulingGates"))...)
	errs = append(errs, validateResourceList(s.Overhead, fldPath.Child("overhead"))...)
	if s.Resources != nil {
		errs = append(errs, validateResources(s.Resources, fldPath.Child("resources"))...)
	}
	if s.OS != nil && s.OS.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("os", "name"), ""))
	}
	for i, ref := range s.ImagePullSecrets {
		if ref.Name != "" {
			errs = append(errs, nameErrs(fldPath.Child("imagePullSecrets").Index(i).Child("name"), ref.Name, apivalidation.NameIsDNSSubdomain)...)
		}
	}
	return errs
}

func validateDNS(s *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case s.DNSPolicy == "":
		errs = append(errs, field.Required(fldPath.Child("dnsPolicy"), ""))
	case !slices.Contains(supportedDNSPolicies, s.DNSPolicy):
		errs = append(errs, field.NotSupported(fldPath.Child("dnsPolicy"), s.DNSPolicy, supportedDNSPolicies))
	}
	cfgPath := fldPath.Child("dnsConfig")
	if s.DNSPolicy == corev1.DNSNone {
		if s.DNSConfig == nil {
			errs = append(errs, field.Required(cfgPath, fmt.Sprintf("must provide `dnsConfig` when `dnsPolicy` is %s", corev1.DNSNone)))
		} else if len(s.DNSConfig.Nameservers) == 0 {
			errs = append(errs, field.Required(cfgPath.Child("nameservers"), fmt.Sprintf("must provide at least one DNS nameserver when `dnsPolicy` is %s", corev1.DNSNone)))
		}
	}
	if c := s.DNSConfig; c != nil {
		if len(c.Nameservers) > 3 {
			errs = append(errs, field.Invalid(cfgPath.Child("nameservers"), c.Nameservers, "must not have more than 3 nameservers"))
		}
		for i, ns := range c.Nameservers {
			if net.ParseIP(ns) == nil {
				errs = append(errs, field.Invalid(cfgPath.Child("nameservers").Index(i), ns, "must be a valid IP address"))
			}
		}
		if len(c.Searches) > 32 {
			errs = append(errs, field.Invalid(cfgPath.Child("searches"), c.Searches, "must not have more than 32 search paths"))
		}
		for i, search := range c.Searches {
			if search == "." {
				continue
			}
			for _, msg := range validation.IsDNS1123Subdomain(strings.TrimSuffix(search, ".")) {
				errs = append(errs, field.Invalid(cfgPath.Child("searches").Index(i), search, msg))
			}
		}
		for i, o := range c.Options {
			if o.Name == "" {
				errs = append(errs, field.Required(cfgPath.Child("options").Index(i).Child("name"), "must not be empty"))
			}
		}
	}
	return errs
}

func validatePodSecurityContext(s *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	sc := s.SecurityContext
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	errs = append(errs, idErrs(fldPath.Child("runAsUser"), sc.RunAsUser, validation.IsValidUserID)...)
	errs = append(errs, idErrs(fldPath.Child("runAsGroup"), sc.RunAsGroup, validation.IsValidGroupID)...)
	errs = append(errs, idErrs(fldPath.Child("fsGroup"), sc.FSGroup, validation.IsValidGroupID)...)
	for i, g := range sc.SupplementalGroups {
		errs = append(errs, idErrs(fldPath.Child("supplementalGroups").Index(i), &g, validation.IsValidGroupID)...)
	}
	if p := sc.FSGroupChangePolicy; p != nil && *p != corev1.FSGroupChangeAlways && *p != corev1.FSGroupChangeOnRootMismatch {
		errs = append(errs, field.NotSupported(fldPath.Child("fsGroupChangePolicy"), *p, []corev1.PodFSGroupChangePolicy{corev1.FSGroupChangeAlways, corev1.FSGroupChangeOnRootMismatch}))
	}
	errs = append(errs, validateSeccomp(sc.SeccompProfile, fldPath.Child("seccompProfile"))...)
	seen := sets.New[string]()
	for i, sysctl := range sc.Sysctls {
		p := fldPath.Child("sysctls").Index(i)
		switch {
		case sysctl.Name == "":
			errs = append(errs, field.Required(p.Child("name"), ""))
		case !isSysctlName(sysctl.Name):
			errs = append(errs, field.Invalid(p.Child("name"), sysctl.Name, "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"))
		case seen.Has(sysctl.Name):
			errs = append(errs, field.Duplicate(p.Child("name"), sysctl.Name))
		}
		seen.Insert(sysctl.Name)
		if s.HostNetwork && (strings.HasPrefix(sysctl.Name, "net.") || strings.HasPrefix(sysctl.Name, "net/")) {
			errs = append(errs, field.Invalid(p.Child("name"), sysctl.Name, "may not be specified when 'hostNetwork' is true"))
		}
	}
	return errs
}

func isSysctlName(name string) bool {
	if len(name) > 253 {
		return false
	}
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == '/' }) {
		if part == "" || !isAlnum(part[0]) || !isAlnum(part[len(part)-1]) {
			return false
		}
		for i := 0; i < len(part); i++ {
			if c := part[i]; !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return name != "" && !strings.HasSuffix(name, ".") && !strings.HasSuffix(name, "/")
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func validateSeccomp(p *corev1.SeccompProfile, fldPath *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	types := []corev1.SeccompProfileType{corev1.SeccompProfileTypeLocalhost, corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined}
	switch p.Type {
	case corev1.SeccompProfileTypeLocalhost:
		if p.LocalhostProfile == nil || *p.LocalhostProfile == "" {
			return field.ErrorList{field.Required(fldPath.Child("localhostProfile"), "must be set when seccomp type is Localhost")}
		}
		return validateLocalRelativePath(*p.LocalhostProfile, fldPath.Child("localhostProfile"))
	case corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined:
		if p.LocalhostProfile != nil {
			return field.ErrorList{field.Invalid(fldPath.Child("localhostProfile"), *p.LocalhostProfile, "can only be set when seccomp type is Localhost")}
		}
		return nil
	case "":
		return field.ErrorList{field.Required(fldPath.Child("type"), "")}
	default:
		return field.ErrorList{field.NotSupported(fldPath.Child("type"), p.Type, types)}
	}
}

func validateHostAliases(aliases []corev1.HostAlias, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, a := range aliases {
		p := fldPath.Index(i)
		if net.ParseIP(a.IP) == nil {
			errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "must be a valid IP address"))
		}
		for j, h := range a.Hostnames {
			for _, msg := range validation.IsDNS1123Subdomain(h) {
				errs = append(errs, field.Invalid(p.Child("hostnames").Index(j), h, msg))
			}
		}
	}
	return errs
}

func validateSchedulingGates(gates []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, g := range gates {
		p := fldPath.Index(i).Child("name")
		errs = append(errs, qualifiedNameErrs(p, g.Name)...)
		if seen.Has(g.Name) {
			errs = append(errs, field.Duplicate(p, g.Name))
		}
		seen.Insert(g.Name)
	}
	return errs
}

// checkHostPortConflicts rejects two ports asking for the same host port, protocol and address: the
// pod could never start.
func checkHostPortConflicts(s *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	check := func(cs []corev1.Container, p *field.Path) {
		for i := range cs {
			for j, port := range cs[i].Ports {
				if port.HostPort == 0 {
					continue
				}
				key := fmt.Sprintf("%s/%s/%d", port.Protocol, port.HostIP, port.HostPort)
				if seen.Has(key) {
					errs = append(errs, field.Duplicate(p.Index(i).Child("ports").Index(j).Child("hostPort"), key))
				}
				seen.Insert(key)
			}
		}
	}
	check(s.InitContainers, fldPath.Child("initContainers"))
	check(s.Containers, fldPath.Child("containers"))
	return errs
}

func nameErrs(p *field.Path, name string, fn apivalidation.ValidateNameFunc) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range fn(name, false) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

func labelErrs(p *field.Path, v string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func qualifiedNameErrs(p *field.Path, v string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range content.IsQualifiedName(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func idErrs(p *field.Path, id *int64, fn func(int64) []string) field.ErrorList {
	if id == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range fn(*id) {
		errs = append(errs, field.Invalid(p, *id, msg))
	}
	return errs
}

// validateLocalRelativePath rejects absolute paths and any ".." element, so a path can never leave the
// directory it is resolved in.
func validateLocalRelativePath(p string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(p) {
		errs = append(errs, field.Invalid(fldPath, p, "must be a relative path"))
	}
	errs = append(errs, validateNoBacksteps(p, fldPath)...)
	return errs
}

func validateNoBacksteps(p string, fldPath *field.Path) field.ErrorList {
	for _, part := range strings.Split(strings.ReplaceAll(p, `\`, "/"), "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(fldPath, p, "must not contain '..'")}
		}
	}
	return nil
}
