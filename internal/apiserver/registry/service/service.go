package service

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// ClusterIPNone marks a headless service.
const ClusterIPNone = "None"

// maxClientIPAffinitySeconds is upstream's ceiling for sessionAffinityConfig.clientIP.timeoutSeconds.
const maxClientIPAffinitySeconds = 86400

var (
	supportedTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	supportedProtocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	supportedAffinity  = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	supportedETP       = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster,
		corev1.ServiceExternalTrafficPolicyLocal}
	supportedITP = []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster,
		corev1.ServiceInternalTrafficPolicyLocal}
	supportedFamilyPolicies = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicySingleStack,
		corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack}
	supportedFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
)

// Strategy returns the Service strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*corev1.Service]{
		Default:              Default,
		PrepareForUpdate:     prepareForUpdate,
		Validate:             Validate,
		ValidateUpdate:       ValidateUpdate,
		ValidateStatusUpdate: registry.IgnoringOld(validateStatus),
	}.Strategy()
}

// Default fills the fields upstream defaults. IP families are only defaulted once a cluster IP is
// known, so a create without one leaves them for the allocator.
func Default(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		if spec.SessionAffinityConfig == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP == nil {
			spec.SessionAffinityConfig.ClientIP = &corev1.ClientIPConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			t := corev1.DefaultClientIPServiceAffinitySeconds
			spec.SessionAffinityConfig.ClientIP.TimeoutSeconds = &t
		}
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == (intstr.IntOrString{}) || (p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == "") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer {
		if spec.ExternalTrafficPolicy == "" {
			spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		t := true
		spec.AllocateLoadBalancerNodePorts = &t
	}
	if spec.Type != corev1.ServiceTypeExternalName {
		if spec.InternalTrafficPolicy == nil {
			p := corev1.ServiceInternalTrafficPolicyCluster
			spec.InternalTrafficPolicy = &p
		}
		defaultClusterIPs(spec)
	}
}

// defaultClusterIPs keeps clusterIP and clusterIPs[0] in step and derives the IP families from the
// addresses, as upstream does once allocation has happened.
func defaultClusterIPs(spec *corev1.ServiceSpec) {
	if spec.ClusterIP != "" && len(spec.ClusterIPs) == 0 {
		spec.ClusterIPs = []string{spec.ClusterIP}
	}
	if spec.ClusterIP == "" && len(spec.ClusterIPs) > 0 {
		spec.ClusterIP = spec.ClusterIPs[0]
	}
	if spec.ClusterIP == "" {
		return
	}
	if spec.IPFamilyPolicy == nil {
		p := corev1.IPFamilyPolicySingleStack
		if len(spec.ClusterIPs) > 1 {
			p = corev1.IPFamilyPolicyRequireDualStack
		}
		spec.IPFamilyPolicy = &p
	}
	if len(spec.IPFamilies) == 0 {
		for _, ip := range spec.ClusterIPs {
			if ip == ClusterIPNone {
				spec.IPFamilies = append(spec.IPFamilies, corev1.IPv4Protocol)
				break
			}
			if a, err := netip.ParseAddr(ip); err == nil {
				if a.Is4() {
					spec.IPFamilies = append(spec.IPFamilies, corev1.IPv4Protocol)
				} else {
					spec.IPFamilies = append(spec.IPFamilies, corev1.IPv6Protocol)
				}
			}
		}
	}
}

// prepareForUpdate carries allocated values over when a client sends a full object without them
// (kubectl replace, apply of a manifest), as upstream does: dropping them would read as a request to
// change an immutable cluster IP or to re-allocate node ports.
func prepareForUpdate(svc, oldSvc *corev1.Service) {
	spec, oldSpec := &svc.Spec, &oldSvc.Spec
	if spec.Type != corev1.ServiceTypeExternalName && oldSpec.Type != corev1.ServiceTypeExternalName {
		if spec.ClusterIP == "" && len(spec.ClusterIPs) == 0 && oldSpec.ClusterIP != "" {
			spec.ClusterIP = oldSpec.ClusterIP
			spec.ClusterIPs = append([]string(nil), oldSpec.ClusterIPs...)
		}
		if spec.ClusterIP == oldSpec.ClusterIP {
			if len(spec.IPFamilies) == 0 {
				spec.IPFamilies = append([]corev1.IPFamily(nil), oldSpec.IPFamilies...)
			}
			if spec.IPFamilyPolicy == nil && oldSpec.IPFamilyPolicy != nil {
				p := *oldSpec.IPFamilyPolicy
				spec.IPFamilyPolicy = &p
			}
		}
	}
	if needsNodePorts(spec.Type) && needsNodePorts(oldSpec.Type) {
		for i := range spec.Ports {
			p := &spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, op := range oldSpec.Ports {
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				if op.Port == p.Port && op.Protocol == proto {
					p.NodePort = op.NodePort
					break
				}
			}
		}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && oldSpec.Type == corev1.ServiceTypeLoadBalancer &&
		spec.HealthCheckNodePort == 0 && spec.ExternalTrafficPolicy == oldSpec.ExternalTrafficPolicy {
		spec.HealthCheckNodePort = oldSpec.HealthCheckNodePort
	}
	dropTypeDependentFields(spec, oldSpec)
}

// dropTypeDependentFields clears what the old type needed and the new one cannot have, when the
// client left it as it was, as upstream does: a patch that only changes the type (NodePort to
// ClusterIP, anything to ExternalName) would otherwise fail validation on values the server
// itself once filled in. The allocator then frees what was dropped. A value the client changed
// is kept, for validation to refuse.
func dropTypeDependentFields(spec, oldSpec *corev1.ServiceSpec) {
	if oldSpec.Type != corev1.ServiceTypeExternalName && spec.Type == corev1.ServiceTypeExternalName {
		if spec.ClusterIP == oldSpec.ClusterIP && slices.Equal(spec.ClusterIPs, oldSpec.ClusterIPs) {
			spec.ClusterIP, spec.ClusterIPs = "", nil
		}
		if slices.Equal(spec.IPFamilies, oldSpec.IPFamilies) {
			spec.IPFamilies = nil
		}
		if ptrEqual(spec.IPFamilyPolicy, oldSpec.IPFamilyPolicy) {
			spec.IPFamilyPolicy = nil
		}
	}
	if needsNodePorts(oldSpec.Type) && !needsNodePorts(spec.Type) {
		old := sets.New[int32]()
		for _, p := range oldSpec.Ports {
			old.Insert(p.NodePort)
		}
		unchanged := true
		for _, p := range spec.Ports {
			if p.NodePort != 0 && !old.Has(p.NodePort) {
				unchanged = false
			}
		}
		if unchanged {
			for i := range spec.Ports {
				spec.Ports[i].NodePort = 0
			}
		}
		if spec.ExternalTrafficPolicy == oldSpec.ExternalTrafficPolicy {
			spec.ExternalTrafficPolicy = ""
		}
	}
	oldHC := oldSpec.Type == corev1.ServiceTypeLoadBalancer && oldSpec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	newHC := spec.Type == corev1.ServiceTypeLoadBalancer && spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if oldHC && !newHC && spec.HealthCheckNodePort == oldSpec.HealthCheckNodePort {
		spec.HealthCheckNodePort = 0
	}
	if oldSpec.Type == corev1.ServiceTypeLoadBalancer && spec.Type != corev1.ServiceTypeLoadBalancer {
		if ptrEqual(spec.AllocateLoadBalancerNodePorts, oldSpec.AllocateLoadBalancerNodePorts) {
			spec.AllocateLoadBalancerNodePorts = nil
		}
		if ptrEqual(spec.LoadBalancerClass, oldSpec.LoadBalancerClass) {
			spec.LoadBalancerClass = nil
		}
	}
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func needsNodePorts(t corev1.ServiceType) bool {
	return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == ClusterIPNone || (len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == ClusterIPNone)
}

// Validate checks a Service's spec.
func Validate(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	specPath := field.NewPath("spec")

	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}

	switch spec.Type {
	case "":
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		if spec.Type != corev1.ServiceTypeClusterIP && isHeadless(svc) {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), ClusterIPNone,
				fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		if spec.ClusterIP != "" || len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		name := strings.TrimSuffix(spec.ExternalName, ".")
		if name == "" {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(name) {
				errs = append(errs, field.Invalid(specPath.Child("externalName"), spec.ExternalName, msg))
			}
		}
	default:
		errs = append(errs, field.NotSupported(specPath.Child("type"), spec.Type, supportedTypes))
	}

	errs = append(errs, validateClusterIPs(svc)...)
	errs = append(errs, validatePorts(svc)...)

	if spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	}

	switch spec.SessionAffinity {
	case "":
		errs = append(errs, field.Required(specPath.Child("sessionAffinity"), ""))
	case corev1.ServiceAffinityClientIP:
		cfg := spec.SessionAffinityConfig
		timeoutPath := specPath.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds")
		if cfg == nil || cfg.ClientIP == nil || cfg.ClientIP.TimeoutSeconds == nil {
			errs = append(errs, field.Required(timeoutPath, ""))
		} else if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
			errs = append(errs, field.Invalid(timeoutPath, t,
				fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds)))
		}
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Forbidden(specPath.Child("sessionAffinityConfig"),
				fmt.Sprintf("must not be set when `sessionAffinity` is %s", corev1.ServiceAffinityNone)))
		}
	default:
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity, supportedAffinity))
	}

	for i, ip := range spec.ExternalIPs {
		errs = append(errs, validation.IsValidIP(specPath.Child("externalIPs").Index(i), ip)...)
	}

	if len(spec.LoadBalancerSourceRanges) > 0 && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(specPath.Child("loadBalancerSourceRanges"),
			"may only be used when `type` is 'LoadBalancer'"))
	}
	for i, cidr := range spec.LoadBalancerSourceRanges {
		errs = append(errs, validation.IsValidCIDR(specPath.Child("loadBalancerSourceRanges").Index(i), strings.TrimSpace(cidr))...)
	}
	if spec.LoadBalancerClass != nil && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(specPath.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if spec.AllocateLoadBalancerNodePorts != nil && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		errs = append(errs, field.Required(specPath.Child("allocateLoadBalancerNodePorts"), ""))
	}

	errs = append(errs, validateTrafficPolicies(svc)...)
	return errs
}

func validateClusterIPs(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	specPath := field.NewPath("spec")
	ipsPath := specPath.Child("clusterIPs")

	if len(spec.ClusterIPs) > 0 && spec.ClusterIP != spec.ClusterIPs[0] {
		errs = append(errs, field.Invalid(specPath.Child("clusterIP"), spec.ClusterIP,
			"must match first value in spec.clusterIPs"))
	}
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may only hold up to 2 values"))
	}
	families := sets.New[corev1.IPFamily]()
	for i, ip := range spec.ClusterIPs {
		if ip == ClusterIPNone {
			if i != 0 || len(spec.ClusterIPs) > 1 {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, "'None' must be the first and only value"))
			}
			continue
		}
		ipErrs := validation.IsValidIP(ipsPath.Index(i), ip)
		errs = append(errs, ipErrs...)
		if len(ipErrs) == 0 {
			fam := familyOf(ip)
			if families.Has(fam) {
				errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may specify no more than one IP for each IP family"))
			}
			families.Insert(fam)
			if i < len(spec.IPFamilies) && spec.IPFamilies[i] != fam {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip,
					fmt.Sprintf("expected an %s value as indicated by `ipFamilies[%d]`", spec.IPFamilies[i], i)))
			}
		}
	}

	if spec.IPFamilyPolicy != nil {
		policy := *spec.IPFamilyPolicy
		if !slices.Contains(supportedFamilyPolicies, policy) {
			errs = append(errs, field.NotSupported(specPath.Child("ipFamilyPolicy"), policy, supportedFamilyPolicies))
		} else if policy == corev1.IPFamilyPolicySingleStack && (len(spec.IPFamilies) > 1 || len(spec.ClusterIPs) > 1) {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), policy,
				"must be RequireDualStack or PreferDualStack when multiple IP families are specified"))
		}
	}
	if len(spec.IPFamilies) > 2 {
		errs = append(errs, field.Invalid(specPath.Child("ipFamilies"), spec.IPFamilies, "may only hold up to 2 values"))
	}
	seen := sets.New[corev1.IPFamily]()
	for i, fam := range spec.IPFamilies {
		p := specPath.Child("ipFamilies").Index(i)
		if !slices.Contains(supportedFamilies, fam) {
			errs = append(errs, field.NotSupported(p, fam, supportedFamilies))
		} else if seen.Has(fam) {
			errs = append(errs, field.Duplicate(p, fam))
		}
		seen.Insert(fam)
	}
	return errs
}

func familyOf(ip string) corev1.IPFamily {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

type portProto struct {
	port  int32
	proto corev1.Protocol
}

func validatePorts(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	portsPath := field.NewPath("spec", "ports")
	names := sets.New[string]()
	ports := map[portProto]bool{}
	nodePorts := map[portProto]bool{}
	multi := len(spec.Ports) > 1
	for i, p := range spec.Ports {
		idx := portsPath.Index(i)
		if p.Name == "" {
			if multi {
				errs = append(errs, field.Required(idx.Child("name"), ""))
			}
		} else {
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				errs = append(errs, field.Invalid(idx.Child("name"), p.Name, msg))
			}
			if names.Has(p.Name) {
				errs = append(errs, field.Duplicate(idx.Child("name"), p.Name))
			}
			names.Insert(p.Name)
		}
		for _, msg := range validation.IsValidPortNum(int(p.Port)) {
			errs = append(errs, field.Invalid(idx.Child("port"), p.Port, msg))
		}
		switch {
		case p.Protocol == "":
			errs = append(errs, field.Required(idx.Child("protocol"), ""))
		case !slices.Contains(supportedProtocols, p.Protocol):
			errs = append(errs, field.NotSupported(idx.Child("protocol"), p.Protocol, supportedProtocols))
		}
		errs = append(errs, validatePortNumOrName(p.TargetPort, idx.Child("targetPort"))...)
		if p.AppProtocol != nil {
			for _, msg := range content.IsLabelKey(*p.AppProtocol) {
				errs = append(errs, field.Invalid(idx.Child("appProtocol"), *p.AppProtocol, msg))
			}
		}

		key := portProto{p.Port, p.Protocol}
		if ports[key] {
			errs = append(errs, field.Duplicate(idx, key))
		}
		ports[key] = true

		if p.NodePort != 0 {
			if !needsNodePorts(spec.Type) {
				errs = append(errs, field.Forbidden(idx.Child("nodePort"),
					fmt.Sprintf("may not be used when `type` is '%s'", spec.Type)))
			}
			for _, msg := range validation.IsValidPortNum(int(p.NodePort)) {
				errs = append(errs, field.Invalid(idx.Child("nodePort"), p.NodePort, msg))
			}
			nk := portProto{p.NodePort, p.Protocol}
			if nodePorts[nk] {
				errs = append(errs, field.Duplicate(idx.Child("nodePort"), p.NodePort))
			}
			nodePorts[nk] = true
		}
	}
	return errs
}

func validatePortNumOrName(port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if port.Type == intstr.Int {
		for _, msg := range validation.IsValidPortNum(int(port.IntVal)) {
			errs = append(errs, field.Invalid(fldPath, port.IntVal, msg))
		}
	} else {
		for _, msg := range validation.IsValidPortName(port.StrVal) {
			errs = append(errs, field.Invalid(fldPath, port.StrVal, msg))
		}
	}
	return errs
}

func validateTrafficPolicies(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	specPath := field.NewPath("spec")
	if needsNodePorts(spec.Type) {
		if spec.ExternalTrafficPolicy == "" {
			errs = append(errs, field.Required(specPath.Child("externalTrafficPolicy"), ""))
		} else if !slices.Contains(supportedETP, spec.ExternalTrafficPolicy) {
			errs = append(errs, field.NotSupported(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, supportedETP))
		}
	} else if spec.ExternalTrafficPolicy != "" {
		errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy,
			"may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
	}
	if spec.HealthCheckNodePort != 0 {
		if spec.Type != corev1.ServiceTypeLoadBalancer || spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			errs = append(errs, field.Invalid(specPath.Child("healthCheckNodePort"), spec.HealthCheckNodePort,
				"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		} else {
			for _, msg := range validation.IsValidPortNum(int(spec.HealthCheckNodePort)) {
				errs = append(errs, field.Invalid(specPath.Child("healthCheckNodePort"), spec.HealthCheckNodePort, msg))
			}
		}
	}
	if spec.Type == corev1.ServiceTypeExternalName {
		return errs
	}
	if spec.InternalTrafficPolicy == nil {
		errs = append(errs, field.Required(specPath.Child("internalTrafficPolicy"), ""))
	} else if !slices.Contains(supportedITP, *spec.InternalTrafficPolicy) {
		errs = append(errs, field.NotSupported(specPath.Child("internalTrafficPolicy"), *spec.InternalTrafficPolicy, supportedITP))
	}
	return errs
}

// ValidateUpdate checks an update: the new object must be valid, and an allocated primary cluster IP
// may not change unless the service leaves the cluster-IP world (type ExternalName).
func ValidateUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := Validate(svc)
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return errs
	}
	oldIPs := old.Spec.ClusterIPs
	if len(oldIPs) == 0 && old.Spec.ClusterIP != "" {
		oldIPs = []string{old.Spec.ClusterIP}
	}
	if len(oldIPs) == 0 {
		return errs
	}
	ipsPath := field.NewPath("spec", "clusterIPs")
	if len(svc.Spec.ClusterIPs) == 0 {
		errs = append(errs, field.Required(ipsPath.Index(0), "primary clusterIP can not be unset"))
		return errs
	}
	if svc.Spec.ClusterIPs[0] != oldIPs[0] {
		errs = append(errs, field.Invalid(ipsPath.Index(0), svc.Spec.ClusterIPs, "may not change once set"))
	}
	if len(old.Spec.IPFamilies) > 0 && len(svc.Spec.IPFamilies) > 0 && old.Spec.IPFamilies[0] != svc.Spec.IPFamilies[0] {
		errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilies").Index(0), svc.Spec.IPFamilies[0],
			"may not change once set"))
	}
	return errs
}

func validateStatus(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	ingPath := field.NewPath("status", "loadBalancer", "ingress")
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		p := ingPath.Index(i)
		if ing.IP != "" {
			errs = append(errs, validation.IsValidIP(p.Child("ip"), ing.IP)...)
		}
		if ing.Hostname != "" {
			for _, msg := range validation.IsDNS1123Subdomain(ing.Hostname) {
				errs = append(errs, field.Invalid(p.Child("hostname"), ing.Hostname, msg))
			}
			if _, err := netip.ParseAddr(ing.Hostname); err == nil {
				errs = append(errs, field.Invalid(p.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	errs = append(errs, metav1validation.ValidateConditions(svc.Status.Conditions, field.NewPath("status", "conditions"))...)
	return errs
}
