package pod

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func basePod() *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:         "nginx",
				Image:        "nginx:1.27",
				Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	DefaultPod(p)
	return p
}

// wantErrs asserts that errs holds exactly the given (type, path) pairs, in any order.
func wantErrs(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	got := map[string]int{}
	for _, e := range errs {
		got[string(e.Type)+" "+e.Field]++
	}
	for _, w := range want {
		if got[w] == 0 {
			t.Errorf("missing error %q; got %v", w, errs)
			continue
		}
		got[w]--
	}
	for k, n := range got {
		if n > 0 {
			t.Errorf("unexpected error %q; all: %v", k, errs)
		}
	}
}

func TestDefaultPod(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "a", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
				Resources:     corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
				Env:           []corev1.EnvVar{{Name: "N", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			},
			{Name: "b", Image: "registry:5000/app:v1"},
			{Name: "c", Image: "registry:5000/app"},
			{Name: "d", Image: "app@sha256:abcd"},
			{Name: "e", Image: "app:latest"},
		},
		Volumes: []corev1.Volume{
			{Name: "none"},
			{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}},
			{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
			{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
		},
	}}
	DefaultPod(p)
	s := p.Spec
	checks := []struct {
		name      string
		got, want any
	}{
		{"restartPolicy", s.RestartPolicy, corev1.RestartPolicyAlways},
		{"dnsPolicy", s.DNSPolicy, corev1.DNSClusterFirst},
		{"grace", *s.TerminationGracePeriodSeconds, int64(30)},
		{"scheduler", s.SchedulerName, "default-scheduler"},
		{"securityContext", s.SecurityContext != nil, true},
		{"enableServiceLinks", *s.EnableServiceLinks, true},
		{"pull no tag", s.Containers[0].ImagePullPolicy, corev1.PullAlways},
		{"pull tag with registry port", s.Containers[1].ImagePullPolicy, corev1.PullIfNotPresent},
		{"pull registry port no tag", s.Containers[2].ImagePullPolicy, corev1.PullAlways},
		{"pull digest", s.Containers[3].ImagePullPolicy, corev1.PullIfNotPresent},
		{"pull latest", s.Containers[4].ImagePullPolicy, corev1.PullAlways},
		{"termination path", s.Containers[0].TerminationMessagePath, "/dev/termination-log"},
		{"termination policy", s.Containers[0].TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"protocol", s.Containers[0].Ports[0].Protocol, corev1.ProtocolTCP},
		{"probe timeout", s.Containers[0].LivenessProbe.TimeoutSeconds, int32(1)},
		{"probe period", s.Containers[0].LivenessProbe.PeriodSeconds, int32(10)},
		{"probe success", s.Containers[0].LivenessProbe.SuccessThreshold, int32(1)},
		{"probe failure", s.Containers[0].LivenessProbe.FailureThreshold, int32(3)},
		{"probe path", s.Containers[0].LivenessProbe.HTTPGet.Path, "/"},
		{"probe scheme", s.Containers[0].LivenessProbe.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"requests from limits", s.Containers[0].Resources.Requests.Cpu().String(), "1"},
		{"fieldRef apiVersion", s.Containers[0].Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		{"empty volume is emptyDir", s.Volumes[0].EmptyDir != nil, true},
		{"secret mode", *s.Volumes[1].Secret.DefaultMode, int32(0644)},
		{"configMap mode", *s.Volumes[2].ConfigMap.DefaultMode, int32(0644)},
		{"projected mode", *s.Volumes[3].Projected.DefaultMode, int32(0644)},
		{"token expiry", *s.Volumes[3].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds, int64(3600)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDefaultPodKeepsSetValues(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		DNSPolicy:                     corev1.DNSDefault,
		TerminationGracePeriodSeconds: ptr.To[int64](5),
		SchedulerName:                 "mine",
		EnableServiceLinks:            ptr.To(false),
		Containers: []corev1.Container{{Name: "a", Image: "nginx", ImagePullPolicy: corev1.PullNever,
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			Ports:                    []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			}}},
	}}
	DefaultPod(p)
	s := p.Spec
	if s.RestartPolicy != corev1.RestartPolicyNever || s.DNSPolicy != corev1.DNSDefault || *s.TerminationGracePeriodSeconds != 5 ||
		s.SchedulerName != "mine" || *s.EnableServiceLinks || s.Containers[0].ImagePullPolicy != corev1.PullNever ||
		s.Containers[0].TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError ||
		s.Containers[0].Ports[0].Protocol != corev1.ProtocolUDP || s.Containers[0].Resources.Requests.Cpu().String() != "100m" {
		t.Fatalf("defaulting overrode set values: %+v", s)
	}
}

func TestDefaultPodTemplateSpecLeavesPodOnlyFields(t *testing.T) {
	tpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "x:1",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}}
	DefaultPodTemplateSpec(tpl)
	if tpl.Spec.EnableServiceLinks != nil {
		t.Error("templates must not get enableServiceLinks")
	}
	if tpl.Spec.Containers[0].Resources.Requests != nil {
		t.Error("templates must not get requests copied from limits")
	}
	if tpl.Spec.RestartPolicy != corev1.RestartPolicyAlways || tpl.Spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("template spec defaults missing: %+v", tpl.Spec)
	}
}

func TestDefaultHostNetworkPorts(t *testing.T) {
	s := &corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "a", Image: "x", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}
	DefaultPodSpec(s)
	if s.Containers[0].Ports[0].HostPort != 8080 {
		t.Fatalf("hostPort = %d, want 8080", s.Containers[0].Ports[0].HostPort)
	}
}

func TestValidatePod(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []string
	}{
		{"valid", func(p *corev1.Pod) {}, nil},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, []string{"FieldValueRequired spec.containers"}},
		{"empty container name", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, []string{"FieldValueRequired spec.containers[0].name"}},
		{"bad container name", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web_1" }, []string{"FieldValueInvalid spec.containers[0].name"}},
		{"duplicate across init and app", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "nginx", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile}}
		}, []string{"FieldValueDuplicate spec.containers[0].name"}},
		{"no image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []string{"FieldValueRequired spec.containers[0].image"}},
		{"padded image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, []string{"FieldValueInvalid spec.containers[0].image"}},
		{"port zero", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }, []string{"FieldValueRequired spec.containers[0].ports[0].containerPort"}},
		{"port too big", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 }, []string{"FieldValueInvalid spec.containers[0].ports[0].containerPort"}},
		{"bad protocol", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" }, []string{"FieldValueNotSupported spec.containers[0].ports[0].protocol"}},
		{"bad port name", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "http_port" }, []string{"FieldValueInvalid spec.containers[0].ports[0].name"}},
		{"duplicate port name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81, Protocol: corev1.ProtocolTCP})
		}, []string{"FieldValueDuplicate spec.containers[0].ports[1].name"}},
		{"host port conflict", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].HostPort = 8080
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "b", ImagePullPolicy: corev1.PullAlways,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile, Ports: []corev1.ContainerPort{{ContainerPort: 90, HostPort: 8080, Protocol: corev1.ProtocolTCP}}})
		}, []string{"FieldValueDuplicate spec.containers[1].ports[0].hostPort"}},
		{"env name with =", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}} }, []string{"FieldValueInvalid spec.containers[0].env[0].name"}},
		{"relaxed env name ok", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "1-my.var"}} }, nil},
		{"env value and valueFrom", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
		}, []string{"FieldValueInvalid spec.containers[0].env[0].valueFrom"}},
		{"env bad fieldPath", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.containers"}}}}
		}, []string{"FieldValueNotSupported spec.containers[0].env[0].valueFrom.fieldRef.fieldPath"}},
		{"env label fieldPath ok", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}}}
		}, nil},
		{"duplicate volume", func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, p.Spec.Volumes[0]) }, []string{"FieldValueDuplicate spec.volumes[1].name"}},
		{"bad volume name", func(p *corev1.Pod) { p.Spec.Volumes[0].Name = "Data"; p.Spec.Containers[0].VolumeMounts = nil }, []string{"FieldValueInvalid spec.volumes[0].name"}},
		{"volume with two sources", func(p *corev1.Pod) {
			p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/tmp"}
		}, []string{"FieldValueForbidden spec.volumes[0].emptyDir"}},
		{"volume with no source", func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir = nil }, []string{"FieldValueRequired spec.volumes[0]"}},
		{"secret without name", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}
		}, []string{"FieldValueRequired spec.volumes[0].secret.secretName"}},
		{"item path escapes", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"},
				Items: []corev1.KeyToPath{{Key: "k", Path: "../etc"}}}}
		}, []string{"FieldValueInvalid spec.volumes[0].configMap.items[0].path"}},
		{"bad default mode", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr.To[int32](01777)}}
		}, []string{"FieldValueInvalid spec.volumes[0].secret.defaultMode"}},
		{"mount of unknown volume", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "nope" }, []string{"FieldValueNotFound spec.containers[0].volumeMounts[0].name"}},
		{"mount without path", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "" }, []string{"FieldValueRequired spec.containers[0].volumeMounts[0].mountPath"}},
		{"mount subPath escapes", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "a/../../b" }, []string{"FieldValueInvalid spec.containers[0].volumeMounts[0].subPath"}},
		{"bad restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, []string{"FieldValueNotSupported spec.restartPolicy"}},
		{"bad dnsPolicy", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, []string{"FieldValueNotSupported spec.dnsPolicy"}},
		{"dns None without config", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, []string{"FieldValueRequired spec.dnsConfig"}},
		{"requests above limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
		}, []string{"FieldValueInvalid spec.containers[0].resources.requests[cpu]"}},
		{"negative quantity", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Mi")}}
		}, []string{"FieldValueInvalid spec.containers[0].resources.requests[memory]"}},
		{"unknown native resource", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{"gpu": resource.MustParse("1")}}
		}, []string{"FieldValueInvalid spec.containers[0].resources.requests[gpu]"}},
		{"extended resource without limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}}
		}, []string{"FieldValueForbidden spec.containers[0].resources.limits"}},
		{"probe without handler", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}, []string{"FieldValueRequired spec.containers[0].livenessProbe"}},
		{"probe with two handlers", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				Exec: &corev1.ExecAction{Command: []string{"true"}}, TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}, []string{"FieldValueForbidden spec.containers[0].readinessProbe.tcpSocket"}},
		{"liveness success threshold", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 2, FailureThreshold: 3}
		}, []string{"FieldValueInvalid spec.containers[0].livenessProbe.successThreshold"}},
		{"probe named port unknown", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("grpc")}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}, []string{"FieldValueInvalid spec.containers[0].livenessProbe.tcpSocket.port"}},
		{"init container with probe", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
		}, []string{"FieldValueForbidden spec.initContainers[0].readinessProbe"}},
		{"sidecar with probe ok", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				RestartPolicy:  ptr.To(corev1.ContainerRestartPolicyAlways),
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}}}
		}, nil},
		{"bad nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" }, []string{"FieldValueInvalid spec.nodeName"}},
		{"bad hostname", func(p *corev1.Pod) { p.Spec.Hostname = "a.b" }, []string{"FieldValueInvalid spec.hostname"}},
		{"bad subdomain", func(p *corev1.Pod) { p.Spec.Subdomain = "Sub" }, []string{"FieldValueInvalid spec.subdomain"}},
		{"activeDeadlineSeconds zero", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](0) }, []string{"FieldValueInvalid spec.activeDeadlineSeconds"}},
		{"toleration empty key Equal", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "x"}}
		}, []string{"FieldValueInvalid spec.tolerations[0].operator"}},
		{"toleration Exists with value", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "x"}}
		}, []string{"FieldValueInvalid spec.tolerations[0].value"}},
		{"tolerationSeconds needs NoExecute", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To[int64](5)}}
		}, []string{"FieldValueInvalid spec.tolerations[0].effect"}},
		{"affinity In without values", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}}}}}
		}, []string{"FieldValueRequired spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values"}},
		{"pod affinity without topologyKey", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}
		}, []string{"FieldValueRequired spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey"}},
		{"preferred weight out of range", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 0,
				Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}}}}}}
		}, []string{"FieldValueInvalid spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"}},
		{"bad nodeSelector", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"bad key!": "x"} }, []string{"FieldValueInvalid spec.nodeSelector"}},
		{"ephemeral containers on create", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, []string{"FieldValueForbidden spec.ephemeralContainers"}},
		{"duplicate scheduling gate", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}, {Name: "example.com/a"}}
		}, []string{"FieldValueDuplicate spec.schedulingGates[1].name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := basePod()
			tc.mutate(p)
			wantErrs(t, Strategy().Validate(context.Background(), p), tc.want...)
		})
	}
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "bad/key/x": "v"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: ""}}},
	}
	DefaultPodTemplateSpec(tpl)
	errs := ValidatePodTemplateSpec(tpl, field.NewPath("spec", "template"))
	wantErrs(t, errs, "FieldValueInvalid spec.template.metadata.labels", "FieldValueRequired spec.template.spec.containers[0].image")
}

func TestValidatePodUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []string
	}{
		{"no change", func(p *corev1.Pod) {}, nil},
		{"image change", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"add toleration", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "b", Operator: corev1.TolerationOpExists})
		}, nil},
		{"change tolerationSeconds", func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr.To[int64](10) }, nil},
		{"remove toleration", func(p *corev1.Pod) { p.Spec.Tolerations = nil }, []string{"FieldValueForbidden spec.tolerations"}},
		{"modify toleration", func(p *corev1.Pod) { p.Spec.Tolerations[0].Key = "z" }, []string{"FieldValueForbidden spec.tolerations"}},
		{"lower activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](50) }, nil},
		{"raise activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](200) }, []string{"FieldValueInvalid spec.activeDeadlineSeconds"}},
		{"unset activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, []string{"FieldValueInvalid spec.activeDeadlineSeconds"}},
		{"remove scheduling gate", func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }, nil},
		{"add scheduling gate", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = append(p.Spec.SchedulingGates, corev1.PodSchedulingGate{Name: "example.com/new"})
		}, []string{"FieldValueForbidden spec.schedulingGates"}},
		{"change restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }, []string{"FieldValueForbidden spec"}},
		{"set nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "node-1" }, []string{"FieldValueForbidden spec"}},
		{"add container", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name = "other"
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []string{"FieldValueForbidden spec.containers"}},
		{"clear image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []string{"FieldValueRequired spec.containers[0].image"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := basePod()
			old.Spec.ActiveDeadlineSeconds = ptr.To[int64](100)
			old.Spec.Tolerations = []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}
			old.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
			p := old.DeepCopy()
			tc.mutate(p)
			errs := Strategy().ValidateUpdate(context.Background(), p, old)
			wantErrs(t, errs, tc.want...)
			for _, e := range errs {
				if e.Field == "spec" && !strings.Contains(e.Detail, "pod updates may not change fields other than `spec.containers[*].image`") {
					t.Errorf("unexpected message: %s", e.Detail)
				}
			}
		})
	}
}

func TestValidatePodUpdateNegativeGrace(t *testing.T) {
	old := basePod()
	old.Spec.TerminationGracePeriodSeconds = ptr.To[int64](-1)
	p := old.DeepCopy()
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	wantErrs(t, ValidatePodUpdate(p, old))
}

func TestValidatePodStatusUpdate(t *testing.T) {
	cases := []struct {
		name   string
		old    corev1.PodStatus
		status corev1.PodStatus
		want   []string
	}{
		{"running", corev1.PodStatus{Phase: corev1.PodPending}, corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.5", PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}}}, nil},
		{"bad phase", corev1.PodStatus{}, corev1.PodStatus{Phase: "Sleeping"}, []string{"FieldValueNotSupported status.phase"}},
		{"leave terminal phase", corev1.PodStatus{Phase: corev1.PodSucceeded}, corev1.PodStatus{Phase: corev1.PodRunning}, []string{"FieldValueForbidden status.phase"}},
		{"bad pod IP", corev1.PodStatus{}, corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0"}}}, []string{"FieldValueInvalid status.podIPs[0].ip"}},
		{"podIP mismatch", corev1.PodStatus{}, corev1.PodStatus{PodIP: "10.0.0.5", PodIPs: []corev1.PodIP{{IP: "10.0.0.6"}}}, []string{"FieldValueInvalid status.podIPs[0].ip"}},
		{"condition without type", corev1.PodStatus{}, corev1.PodStatus{Conditions: []corev1.PodCondition{{Status: corev1.ConditionTrue}}}, []string{"FieldValueRequired status.conditions[0].type"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := basePod()
			old.Status = tc.old
			p := old.DeepCopy()
			p.Status = tc.status
			wantErrs(t, Strategy().ValidateStatusUpdate(context.Background(), p, old), tc.want...)
		})
	}
}

func TestPrepareForCreate(t *testing.T) {
	p := basePod()
	p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
	Strategy().PrepareForCreate(context.Background(), p)
	if p.Status.Phase != corev1.PodPending || p.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("status = %+v", p.Status)
	}
	if len(p.Status.Conditions) != 1 || p.Status.Conditions[0].Reason != SchedulingGatedReason {
		t.Errorf("conditions = %+v", p.Status.Conditions)
	}
}

func TestQOSClass(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	cases := []struct {
		name string
		res  corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{"none", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{"equal", corev1.ResourceRequirements{Requests: rl("1", "1Gi"), Limits: rl("1", "1Gi")}, corev1.PodQOSGuaranteed},
		{"limits only cpu", corev1.ResourceRequirements{Limits: rl("1", "")}, corev1.PodQOSBurstable},
		{"requests below", corev1.ResourceRequirements{Requests: rl("500m", "1Gi"), Limits: rl("1", "1Gi")}, corev1.PodQOSBurstable},
	}
	for _, tc := range cases {
		s := &corev1.PodSpec{Containers: []corev1.Container{{Resources: tc.res}}}
		if got := QOSClass(s); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestSelectableFields(t *testing.T) {
	p := basePod()
	p.Spec.NodeName = "node-1"
	p.Spec.ServiceAccountName = "sa"
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.5"}}
	p.Status.NominatedNodeName = "node-2"
	got := Strategy().SelectableFields(p)
	want := map[string]string{
		"spec.nodeName": "node-1", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
		"spec.serviceAccountName": "sa", "spec.hostNetwork": "false", "status.phase": "Running",
		"status.podIP": "10.0.0.5", "status.nominatedNodeName": "node-2",
	}
	if !equality.Semantic.DeepEqual(map[string]string(got), want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
