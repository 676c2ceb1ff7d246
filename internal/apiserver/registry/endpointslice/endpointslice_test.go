package endpointslice

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func ptr[T any](v T) *T { return &v }

func slice(mut func(*discoveryv1.EndpointSlice)) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.4"}, NodeName: ptr("n1")}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(80))}},
	}
	if mut != nil {
		mut(s)
	}
	Default(s)
	return s
}

func TestDefault(t *testing.T) {
	s := slice(func(s *discoveryv1.EndpointSlice) {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Protocol: ptr(corev1.ProtocolUDP)})
	})
	if *s.Ports[0].Protocol != corev1.ProtocolTCP || *s.Ports[1].Protocol != corev1.ProtocolUDP || s.Ports[1].Name == nil {
		t.Fatalf("defaults: %+v", s.Ports)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		s    *discoveryv1.EndpointSlice
		want []string
	}{
		{"valid", slice(nil), nil},
		{"valid fqdn", slice(func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints[0].Addresses = []string{"db.example.com"}
		}), nil},
		{"no address type", slice(func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }), []string{"FieldValueRequired addressType"}},
		{"bad address type", slice(func(s *discoveryv1.EndpointSlice) { s.AddressType = "IPX" }), []string{"FieldValueNotSupported addressType"}},
		{"v6 in v4 slice", slice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"fd00::1"} }),
			[]string{"FieldValueInvalid endpoints[0].addresses[0]"}},
		{"v4 in v6 slice", slice(func(s *discoveryv1.EndpointSlice) { s.AddressType = discoveryv1.AddressTypeIPv6 }),
			[]string{"FieldValueInvalid endpoints[0].addresses[0]"}},
		{"no addresses", slice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil }), []string{"FieldValueRequired endpoints[0].addresses"}},
		{"bad hostname", slice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Hostname = ptr("A_B") }), []string{"FieldValueInvalid endpoints[0].hostname"}},
		{"duplicate port names", slice(func(s *discoveryv1.EndpointSlice) {
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr("http")})
		}),
			[]string{"FieldValueDuplicate ports[1].name"}},
		{"bad port", slice(func(s *discoveryv1.EndpointSlice) {
			s.Ports[0].Port = ptr(int32(0))
			s.Ports[0].Protocol = ptr(corev1.Protocol("ICMP"))
		}),
			[]string{"FieldValueInvalid ports[0].port", "FieldValueNotSupported ports[0].protocol"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), tc.s), tc.want...)
		})
	}
	old := slice(nil)
	upd := slice(func(s *discoveryv1.EndpointSlice) {
		s.AddressType = discoveryv1.AddressTypeFQDN
		s.Endpoints[0].Addresses = []string{"a.example.com"}
	})
	registrytest.ExpectErrors(t, Strategy().ValidateUpdate(context.Background(), upd, old), "FieldValueInvalid addressType")
}
