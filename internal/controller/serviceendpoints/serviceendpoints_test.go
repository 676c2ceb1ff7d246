package serviceendpoints

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestTargetPort(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Ports: []corev1.ContainerPort{
		{Name: "http", ContainerPort: 8080}, {Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}}}}}}
	for _, tc := range []struct {
		name string
		sp   corev1.ServicePort
		want int32
		err  bool
	}{
		{"number", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9000)}, 9000, false},
		{"unset is the port", corev1.ServicePort{Port: 80}, 80, false},
		{"named", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, 8080, false},
		{"named udp", corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}, 5353, false},
		{"named wrong protocol", corev1.ServicePort{Port: 53, TargetPort: intstr.FromString("dns")}, 0, true},
		{"named missing", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("nope")}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TargetPort(pod, &tc.sp)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("TargetPort = %d, %v; want %d, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestConditionsAndInclusion(t *testing.T) {
	now := metav1.Now()
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	for _, tc := range []struct {
		name      string
		pod       corev1.Pod
		publish   bool
		included  bool // keepTerminating false
		includedT bool // keepTerminating true
		want      Conditions
	}{
		{"ready", corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{PodIP: "10.0.0.1", Conditions: ready}},
			false, true, true, Conditions{Ready: true, Serving: true}},
		{"not ready", corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{PodIP: "10.0.0.1"}},
			false, true, true, Conditions{}},
		{"not ready, published", corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{PodIP: "10.0.0.1"}},
			true, true, true, Conditions{Ready: true, Serving: true}},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Spec: corev1.PodSpec{NodeName: "n"},
			Status: corev1.PodStatus{PodIP: "10.0.0.1", Conditions: ready}}, false, false, true, Conditions{Serving: true, Terminating: true}},
		{"no ip", corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}}, false, false, false, Conditions{}},
		{"finished", corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{PodIP: "10.0.0.1", Phase: corev1.PodSucceeded}},
			false, false, false, Conditions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := &corev1.Service{Spec: corev1.ServiceSpec{PublishNotReadyAddresses: tc.publish}}
			if got := Included(&tc.pod, tc.publish); got != tc.included {
				t.Errorf("Included = %v, want %v", got, tc.included)
			}
			if got := Included(&tc.pod, true); got != tc.includedT {
				t.Errorf("Included(terminating) = %v, want %v", got, tc.includedT)
			}
			if tc.includedT {
				if got := ConditionsOf(svc, &tc.pod); got != tc.want {
					t.Errorf("ConditionsOf = %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestHostnameAndPodIP(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "nginx", Namespace: "default"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}, Spec: corev1.PodSpec{Hostname: "web-0", Subdomain: "nginx"},
		Status: corev1.PodStatus{PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}}}}
	if h := Hostname(svc, pod); h != "web-0" {
		t.Errorf("Hostname = %q", h)
	}
	other := svc.DeepCopy()
	other.Name = "other"
	if h := Hostname(other, pod); h != "" {
		t.Errorf("Hostname for another service = %q", h)
	}
	if ip := PodIP(pod, false); ip != "10.0.0.1" {
		t.Errorf("PodIP v4 = %q", ip)
	}
	if ip := PodIP(pod, true); ip != "fd00::1" {
		t.Errorf("PodIP v6 = %q", ip)
	}
}

func TestTriggerTimes(t *testing.T) {
	var tt TriggerTimes
	t0 := time.Unix(100, 0)
	tt.Note("a", t0.Add(time.Second))
	tt.Note("a", t0)
	tt.Note("a", t0.Add(2*time.Second))
	if got := tt.Take("a"); !got.Equal(t0) {
		t.Errorf("Take = %v, want the earliest %v", got, t0)
	}
	if got := tt.Take("a"); !got.IsZero() {
		t.Errorf("second Take = %v, want zero", got)
	}
}
