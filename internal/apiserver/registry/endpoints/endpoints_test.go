package endpoints

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func TestValidate(t *testing.T) {
	addr := func(ip string) []corev1.EndpointAddress { return []corev1.EndpointAddress{{IP: ip}} }
	cases := []struct {
		name string
		ss   corev1.EndpointSubset
		want []string
	}{
		{"valid", corev1.EndpointSubset{Addresses: addr("10.1.0.5"), Ports: []corev1.EndpointPort{{Port: 80}}}, nil},
		{"not ready only", corev1.EndpointSubset{NotReadyAddresses: addr("fd00::5")}, nil},
		{"no addresses", corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Port: 80}}}, []string{"FieldValueRequired subsets[0]"}},
		{"bad ip", corev1.EndpointSubset{Addresses: addr("10.1.0")}, []string{"FieldValueInvalid subsets[0].addresses[0].ip"}},
		{"loopback", corev1.EndpointSubset{Addresses: addr("127.0.0.1")}, []string{"FieldValueInvalid subsets[0].addresses[0].ip"}},
		{"link local", corev1.EndpointSubset{NotReadyAddresses: addr("169.254.1.1")}, []string{"FieldValueInvalid subsets[0].notReadyAddresses[0].ip"}},
		{"bad hostname", corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1", Hostname: "a.b"}}}, []string{"FieldValueInvalid subsets[0].addresses[0].hostname"}},
		{"unnamed ports", corev1.EndpointSubset{Addresses: addr("10.0.0.1"), Ports: []corev1.EndpointPort{{Name: "a", Port: 80}, {Port: 81}}},
			[]string{"FieldValueRequired subsets[0].ports[1].name"}},
		{"bad port", corev1.EndpointSubset{Addresses: addr("10.0.0.1"), Ports: []corev1.EndpointPort{{Port: 0, Protocol: "XYZ"}}},
			[]string{"FieldValueInvalid subsets[0].ports[0].port", "FieldValueNotSupported subsets[0].ports[0].protocol"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{tc.ss}}
			Default(ep)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), ep), tc.want...)
		})
	}
}
