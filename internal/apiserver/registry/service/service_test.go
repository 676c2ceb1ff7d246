package service

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/apiserver/registry/registrytest"
)

func ptr[T any](v T) *T { return &v }

func svc(mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
	if mut != nil {
		mut(s)
	}
	return s
}

func TestDefault(t *testing.T) {
	s := svc(nil)
	Default(s)
	p := s.Spec.Ports[0]
	if s.Spec.Type != corev1.ServiceTypeClusterIP || s.Spec.SessionAffinity != corev1.ServiceAffinityNone ||
		p.Protocol != corev1.ProtocolTCP || p.TargetPort != intstr.FromInt32(80) ||
		s.Spec.InternalTrafficPolicy == nil || *s.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster {
		t.Fatalf("defaults not applied: %+v", s.Spec)
	}
	if s.Spec.IPFamilyPolicy != nil || len(s.Spec.IPFamilies) != 0 || s.Spec.ExternalTrafficPolicy != "" {
		t.Fatalf("families/etp must wait for allocation / NodePort: %+v", s.Spec)
	}

	s = svc(func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.ClusterIP = "10.0.0.7"
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.Ports[0].TargetPort = intstr.FromString("http")
		s.Spec.Ports[0].Protocol = corev1.ProtocolUDP
	})
	Default(s)
	if s.Spec.Ports[0].TargetPort != intstr.FromString("http") || s.Spec.Ports[0].Protocol != corev1.ProtocolUDP {
		t.Fatalf("set values overridden: %+v", s.Spec.Ports[0])
	}
	if s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster ||
		!reflect.DeepEqual(s.Spec.ClusterIPs, []string{"10.0.0.7"}) ||
		*s.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack ||
		!reflect.DeepEqual(s.Spec.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol}) ||
		*s.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds != 10800 ||
		!*s.Spec.AllocateLoadBalancerNodePorts {
		t.Fatalf("LoadBalancer defaults wrong: %+v", s.Spec)
	}

	s = svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName; s.Spec.Ports = nil })
	Default(s)
	if s.Spec.InternalTrafficPolicy != nil {
		t.Fatalf("ExternalName must not get an internalTrafficPolicy")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		mut  func(*corev1.Service)
		want []string
	}{
		{"valid", nil, []string{}},
		{"valid headless without ports", func(s *corev1.Service) { s.Spec.ClusterIP = "None"; s.Spec.Ports = nil }, []string{}},
		{"valid external name", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db.example.com."
			s.Spec.Ports = nil
		}, []string{}},
		{"valid node port", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 30080
		}, []string{}},
		{"ports required", func(s *corev1.Service) { s.Spec.Ports = nil }, []string{"FieldValueRequired spec.ports"}},
		{"names required with two ports", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "b", Port: 81})
		}, []string{"FieldValueRequired spec.ports[0].name"}},
		{"duplicate names", func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "a", Port: 81}}
		}, []string{"FieldValueDuplicate spec.ports[1].name"}},
		{"duplicate port and protocol", func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80}}
		}, []string{"FieldValueDuplicate spec.ports[1]"}},
		{"port out of range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 },
			[]string{"FieldValueInvalid spec.ports[0].port", "FieldValueInvalid spec.ports[0].targetPort"}},
		{"bad target port name", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("http_x") },
			[]string{"FieldValueInvalid spec.ports[0].targetPort"}},
		{"node port on cluster IP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30000 },
			[]string{"FieldValueForbidden spec.ports[0].nodePort"}},
		{"node port out of range", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 70000
		}, []string{"FieldValueInvalid spec.ports[0].nodePort"}},
		{"bad protocol", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" },
			[]string{"FieldValueNotSupported spec.ports[0].protocol"}},
		{"bad type", func(s *corev1.Service) { s.Spec.Type = "Magic" }, []string{"FieldValueNotSupported spec.type"}},
		{"external name missing", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName },
			[]string{"FieldValueRequired spec.externalName"}},
		{"external name invalid", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "not_a_dns"
		}, []string{"FieldValueInvalid spec.externalName"}},
		{"external name with cluster IP", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db.example.com"
			s.Spec.ClusterIP = "10.0.0.1"
		}, []string{"FieldValueForbidden spec.clusterIPs"}},
		{"headless node port", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ClusterIP = "None"
		}, []string{"FieldValueInvalid spec.clusterIPs[0]"}},
		{"bad cluster IP", func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.300" },
			[]string{"FieldValueInvalid spec.clusterIPs[0]"}},
		{"affinity timeout too large", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(86401))}}
		}, []string{"FieldValueInvalid spec.sessionAffinityConfig.clientIP.timeoutSeconds"}},
		{"affinity config with None", func(s *corev1.Service) {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}, []string{"FieldValueForbidden spec.sessionAffinityConfig"}},
		{"external traffic policy on cluster IP", func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, []string{"FieldValueInvalid spec.externalTrafficPolicy"}},
		{"bad selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} },
			[]string{"FieldValueInvalid spec.selector"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := svc(tc.mut)
			Default(s)
			registrytest.ExpectErrors(t, Strategy().Validate(context.Background(), s), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := svc(func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.10" })
	Default(old)
	cases := []struct {
		name string
		mut  func(*corev1.Service)
		want []string
	}{
		{"unchanged", nil, []string{}},
		{"cluster IP omitted is carried over", func(s *corev1.Service) { s.Spec.ClusterIP = ""; s.Spec.ClusterIPs = nil }, []string{}},
		{"cluster IP changed", func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.11"; s.Spec.ClusterIPs = []string{"10.0.0.11"} },
			[]string{"FieldValueInvalid spec.clusterIPs[0]"}},
		{"to external name clears cluster IP", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db.example.com"
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy, s.Spec.InternalTrafficPolicy = "", nil, nil, nil, nil
		}, []string{}},
	}
	st := Strategy()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := old.DeepCopy()
			if tc.mut != nil {
				tc.mut(s)
			}
			st.PrepareForUpdate(context.Background(), s, old)
			Default(s)
			registrytest.ExpectErrors(t, st.ValidateUpdate(context.Background(), s, old), tc.want...)
		})
	}
}

func TestPrepareForUpdateKeepsNodePorts(t *testing.T) {
	old := svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 31000 })
	Default(old)
	s := svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort })
	Strategy().PrepareForUpdate(context.Background(), s, old)
	if s.Spec.Ports[0].NodePort != 31000 {
		t.Fatalf("node port not carried over: %d", s.Spec.Ports[0].NodePort)
	}
}

func TestPrepareForUpdateDropsTypeDependentFields(t *testing.T) {
	allocated := func(typ corev1.ServiceType) *corev1.Service {
		s := svc(func(s *corev1.Service) {
			s.Spec.Type = typ
			s.Spec.ClusterIP = "10.96.0.10"
			s.Spec.ClusterIPs = []string{"10.96.0.10"}
			if typ != corev1.ServiceTypeClusterIP {
				s.Spec.Ports[0].NodePort = 31000
			}
			if typ == corev1.ServiceTypeLoadBalancer {
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				s.Spec.HealthCheckNodePort = 31001
				s.Spec.LoadBalancerClass = ptr("example.com/lb")
			}
		})
		Default(s)
		return s
	}
	tests := []struct {
		name  string
		old   *corev1.Service
		mut   func(*corev1.Service)
		check func(t *testing.T, s *corev1.Service)
	}{
		{"NodePort to ClusterIP drops node ports and the traffic policy", allocated(corev1.ServiceTypeNodePort),
			func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP },
			func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].NodePort != 0 || s.Spec.ExternalTrafficPolicy != "" || s.Spec.ClusterIP != "10.96.0.10" {
					t.Fatalf("spec = %+v", s.Spec)
				}
				if errs := Validate(s); len(errs) > 0 {
					t.Fatalf("still invalid: %v", errs)
				}
			}},
		{"a node port the client changed is kept for validation", allocated(corev1.ServiceTypeNodePort),
			func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP; s.Spec.Ports[0].NodePort = 31005 },
			func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].NodePort != 31005 {
					t.Fatalf("nodePort = %d", s.Spec.Ports[0].NodePort)
				}
			}},
		{"to ExternalName drops the cluster IP fields", allocated(corev1.ServiceTypeClusterIP),
			func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeExternalName
				s.Spec.ExternalName = "example.com"
			},
			func(t *testing.T, s *corev1.Service) {
				if s.Spec.ClusterIP != "" || s.Spec.ClusterIPs != nil || s.Spec.IPFamilies != nil || s.Spec.IPFamilyPolicy != nil {
					t.Fatalf("spec = %+v", s.Spec)
				}
				if errs := Validate(s); len(errs) > 0 {
					t.Fatalf("still invalid: %v", errs)
				}
			}},
		{"LoadBalancer to ClusterIP drops the health check port and class", allocated(corev1.ServiceTypeLoadBalancer),
			func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP },
			func(t *testing.T, s *corev1.Service) {
				if s.Spec.HealthCheckNodePort != 0 || s.Spec.LoadBalancerClass != nil || s.Spec.AllocateLoadBalancerNodePorts != nil {
					t.Fatalf("spec = %+v", s.Spec)
				}
				if errs := Validate(s); len(errs) > 0 {
					t.Fatalf("still invalid: %v", errs)
				}
			}},
		{"Local to Cluster drops the health check port", allocated(corev1.ServiceTypeLoadBalancer),
			func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster },
			func(t *testing.T, s *corev1.Service) {
				if s.Spec.HealthCheckNodePort != 0 || s.Spec.Ports[0].NodePort != 31000 {
					t.Fatalf("spec = %+v", s.Spec)
				}
			}},
		{"same type keeps everything", allocated(corev1.ServiceTypeLoadBalancer),
			func(s *corev1.Service) { s.Labels = map[string]string{"a": "b"} },
			func(t *testing.T, s *corev1.Service) {
				if s.Spec.HealthCheckNodePort != 31001 || s.Spec.Ports[0].NodePort != 31000 || s.Spec.ClusterIP == "" {
					t.Fatalf("spec = %+v", s.Spec)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.old.DeepCopy()
			tt.mut(s)
			Default(s)
			Strategy().PrepareForUpdate(context.Background(), s, tt.old)
			tt.check(t, s)
		})
	}
}
