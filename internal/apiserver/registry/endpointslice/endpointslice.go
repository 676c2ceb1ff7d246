package endpointslice

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// Upstream's size limits.
const (
	maxEndpoints = 1000
	maxAddresses = 100
	maxPorts     = 20000
)

var (
	supportedAddressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN}
	supportedProtocols    = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
)

// Strategy returns the EndpointSlice strategy.
func Strategy() registry.Strategy {
	return registry.Typed[*discoveryv1.EndpointSlice]{
		Default:        Default,
		Validate:       Validate,
		ValidateUpdate: ValidateUpdate,
	}.Strategy()
}

// ValidateUpdate adds the immutability of addressType, as upstream.
func ValidateUpdate(s, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := Validate(s)
	return append(errs, apimachineryvalidation.ValidateImmutableField(s.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

// Default gives ports an empty name and the TCP protocol, as upstream.
func Default(s *discoveryv1.EndpointSlice) {
	for i := range s.Ports {
		if s.Ports[i].Name == nil {
			empty := ""
			s.Ports[i].Name = &empty
		}
		if s.Ports[i].Protocol == nil {
			tcp := corev1.ProtocolTCP
			s.Ports[i].Protocol = &tcp
		}
	}
}

// Validate checks an EndpointSlice.
func Validate(s *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	typePath := field.NewPath("addressType")
	switch {
	case s.AddressType == "":
		errs = append(errs, field.Required(typePath, ""))
	case !slices.Contains(supportedAddressTypes, s.AddressType):
		errs = append(errs, field.NotSupported(typePath, s.AddressType, supportedAddressTypes))
	}

	epsPath := field.NewPath("endpoints")
	if len(s.Endpoints) > maxEndpoints {
		errs = append(errs, field.TooMany(epsPath, len(s.Endpoints), maxEndpoints))
	}
	for i, ep := range s.Endpoints {
		idx := epsPath.Index(i)
		addrPath := idx.Child("addresses")
		if len(ep.Addresses) == 0 {
			errs = append(errs, field.Required(addrPath, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxAddresses {
			errs = append(errs, field.TooMany(addrPath, len(ep.Addresses), maxAddresses))
		}
		for j, addr := range ep.Addresses {
			errs = append(errs, validateAddress(s.AddressType, addr, addrPath.Index(j))...)
		}
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				errs = append(errs, field.Invalid(idx.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.NodeName != nil {
			for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(*ep.NodeName, false) {
				errs = append(errs, field.Invalid(idx.Child("nodeName"), *ep.NodeName, msg))
			}
		}
		if len(ep.DeprecatedTopology) > 0 {
			errs = append(errs, metav1validation.ValidateLabels(ep.DeprecatedTopology, idx.Child("deprecatedTopology"))...)
		}
	}

	portsPath := field.NewPath("ports")
	if len(s.Ports) > maxPorts {
		errs = append(errs, field.TooMany(portsPath, len(s.Ports), maxPorts))
	}
	names := sets.New[string]()
	for i, p := range s.Ports {
		idx := portsPath.Index(i)
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if name != "" {
			for _, msg := range validation.IsDNS1123Label(name) {
				errs = append(errs, field.Invalid(idx.Child("name"), name, msg))
			}
		}
		if names.Has(name) {
			errs = append(errs, field.Duplicate(idx.Child("name"), name))
		}
		names.Insert(name)
		switch {
		case p.Protocol == nil:
			errs = append(errs, field.Required(idx.Child("protocol"), ""))
		case !slices.Contains(supportedProtocols, *p.Protocol):
			errs = append(errs, field.NotSupported(idx.Child("protocol"), *p.Protocol, supportedProtocols))
		}
		if p.Port != nil {
			for _, msg := range validation.IsValidPortNum(int(*p.Port)) {
				errs = append(errs, field.Invalid(idx.Child("port"), *p.Port, msg))
			}
		}
		if p.AppProtocol != nil {
			for _, msg := range content.IsLabelKey(*p.AppProtocol) {
				errs = append(errs, field.Invalid(idx.Child("appProtocol"), *p.AppProtocol, msg))
			}
		}
	}
	return errs
}

func validateAddress(t discoveryv1.AddressType, addr string, fldPath *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		errs := validation.IsValidIPForLegacyField(fldPath, addr, false, nil)
		if len(errs) > 0 {
			return errs
		}
		if ip, err := netip.ParseAddr(addr); err == nil {
			if t == discoveryv1.AddressTypeIPv4 && !ip.Unmap().Is4() {
				return field.ErrorList{field.Invalid(fldPath, addr, "must be a valid IPv4 address")}
			}
			if t == discoveryv1.AddressTypeIPv6 && !(ip.Is6() && !ip.Is4In6()) {
				return field.ErrorList{field.Invalid(fldPath, addr, "must be a valid IPv6 address")}
			}
		}
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(fldPath, addr)
	}
	return nil
}
