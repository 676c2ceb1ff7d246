package printers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestServiceCells(t *testing.T) {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	tests := []struct {
		name             string
		spec             corev1.ServiceSpec
		status           corev1.ServiceStatus
		clusterIP, extIP string
		ports, selector  string
	}{{
		name:      "cluster IP, two ports",
		spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.0.10"}, Selector: map[string]string{"app": "dns"}, Ports: []corev1.ServicePort{{Port: 53, Protocol: udp}, {Port: 53, Protocol: tcp}}},
		clusterIP: "10.96.0.10", extIP: "<none>", ports: "53/UDP,53/TCP", selector: "app=dns",
	}, {
		name:      "cluster IP with external IPs",
		spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.0.11"}, ExternalIPs: []string{"1.2.3.4", "5.6.7.8"}, Ports: []corev1.ServicePort{{Port: 80, Protocol: tcp}}},
		clusterIP: "10.96.0.11", extIP: "1.2.3.4,5.6.7.8", ports: "80/TCP", selector: "<none>",
	}, {
		name:      "node port",
		spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.96.0.12"}, Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: tcp}}},
		clusterIP: "10.96.0.12", extIP: "<none>", ports: "80:30080/TCP", selector: "<none>",
	}, {
		name:      "load balancer not provisioned yet",
		spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.13"}, Ports: []corev1.ServicePort{{Port: 443, NodePort: 31443, Protocol: tcp}}},
		clusterIP: "10.96.0.13", extIP: "<pending>", ports: "443:31443/TCP", selector: "<none>",
	}, {
		name: "load balancer addresses, sorted and deduplicated, then external IPs, never clipped",
		spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.14"}, ExternalIPs: []string{"9.9.9.9"}},
		status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
			{IP: "203.0.113.7"}, {Hostname: "lb.example.com"}, {IP: "203.0.113.7"}}}},
		clusterIP: "10.96.0.14", extIP: "203.0.113.7,lb.example.com,9.9.9.9", ports: "<none>", selector: "<none>",
	}, {
		name:      "external name",
		spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
		clusterIP: "<none>", extIP: "db.example.com", ports: "<none>", selector: "<none>",
	}, {
		name:      "headless",
		spec:      corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"}, Ports: []corev1.ServicePort{{Port: 80, Protocol: tcp}}},
		clusterIP: "None", extIP: "<none>", ports: "80/TCP", selector: "<none>",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", CreationTimestamp: ago(10 * 24 * time.Hour)}, Spec: tt.spec, Status: tt.status}
			cells, err := serviceTable.Row(svc)
			if err != nil {
				t.Fatal(err)
			}
			assertCells(t, cells, []interface{}{"s", string(tt.spec.Type), tt.clusterIP, tt.extIP, tt.ports, "10d", tt.selector})
		})
	}
}

func TestNodeCells(t *testing.T) {
	ready := []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	tests := []struct {
		name          string
		node          corev1.Node
		status, roles string
	}{
		{"ready, no roles", corev1.Node{Status: corev1.NodeStatus{Conditions: ready}}, "Ready", "<none>"},
		{"not ready", corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}}, "NotReady", "<none>"},
		{"no ready condition", corev1.Node{}, "Unknown", "<none>"},
		{"cordoned", corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}, Status: corev1.NodeStatus{Conditions: ready}}, "Ready,SchedulingDisabled", "<none>"},
		{"cordoned, unknown", corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}}, "Unknown,SchedulingDisabled", "<none>"},
		{"roles from both label forms, sorted, deduplicated", corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
			"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "true",
			"kubernetes.io/role": "worker", "node-role.kubernetes.io/": "", "other": "x"}},
			Status: corev1.NodeStatus{Conditions: ready}}, "Ready", "control-plane,worker"},
		{"empty legacy role label is ignored", corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"kubernetes.io/role": ""}},
			Status: corev1.NodeStatus{Conditions: ready}}, "Ready", "<none>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.node.Name = "n"
			if got := nodeStatus(&tt.node); got != tt.status {
				t.Errorf("status %q, want %q", got, tt.status)
			}
			cells, err := nodeTable.Row(&tt.node)
			if err != nil {
				t.Fatal(err)
			}
			if cells[2] != tt.roles {
				t.Errorf("roles %q, want %q", cells[2], tt.roles)
			}
		})
	}

	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: ago(2 * time.Minute)},
		Status: corev1.NodeStatus{Conditions: ready,
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.5"}},
			NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 13", ContainerRuntimeVersion: "skiff://0.1.0"}}}
	cells, _ := nodeTable.Row(n)
	assertCells(t, cells, []interface{}{"n1", "Ready", "<none>", "2m", "v1.37.2", "192.168.1.5", "<none>",
		"Debian GNU/Linux 13", "<unknown>", "skiff://0.1.0"})
}

func TestDeploymentCells(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tests := []struct {
		name     string
		replicas *int32
		status   appsv1.DeploymentStatus
		selector *metav1.LabelSelector
		ready    string
		sel      string
	}{
		{"all ready", ptr(int32(3)), appsv1.DeploymentStatus{ReadyReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}, sel, "3/3", "app=web"},
		{"rolling out", ptr(int32(3)), appsv1.DeploymentStatus{ReadyReplicas: 1, UpdatedReplicas: 2, AvailableReplicas: 1}, sel, "1/3", "app=web"},
		{"scaled to zero", ptr(int32(0)), appsv1.DeploymentStatus{}, sel, "0/0", "app=web"},
		{"replicas unset means one", nil, appsv1.DeploymentStatus{}, sel, "0/1", "app=web"},
		{"invalid selector", ptr(int32(1)), appsv1.DeploymentStatus{}, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}, "0/1", "<invalid>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(45 * time.Second)},
				Spec: appsv1.DeploymentSpec{Replicas: tt.replicas, Selector: tt.selector,
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers("nginx", "log")}}},
				Status: tt.status}
			cells, err := deploymentTable.Row(d)
			if err != nil {
				t.Fatal(err)
			}
			assertCells(t, cells, []interface{}{"web", tt.ready, int64(tt.status.UpdatedReplicas), int64(tt.status.AvailableReplicas),
				"45s", "nginx,log", "nginx:1,log:1", tt.sel})
		})
	}
}

func TestJobCells(t *testing.T) {
	cond := func(t batchv1.JobConditionType) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue}
	}
	start, done := ago(10*time.Minute), ago(4*time.Minute)
	tests := []struct {
		name                          string
		job                           batchv1.Job
		status, completions, duration string
	}{{
		name:   "running, completions set",
		job:    batchv1.Job{Spec: batchv1.JobSpec{Completions: ptr(int32(5))}, Status: batchv1.JobStatus{Succeeded: 2, StartTime: &start}},
		status: "Running", completions: "2/5", duration: "10m",
	}, {
		name:   "complete",
		job:    batchv1.Job{Spec: batchv1.JobSpec{Completions: ptr(int32(1))}, Status: batchv1.JobStatus{Succeeded: 1, StartTime: &start, CompletionTime: &done, Conditions: []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}}},
		status: "Complete", completions: "1/1", duration: "6m",
	}, {
		name:   "failed wins over terminating",
		job:    batchv1.Job{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &done}, Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{cond(batchv1.JobFailureTarget), cond(batchv1.JobFailed)}}},
		status: "Failed", completions: "0/1", duration: "",
	}, {
		name:   "terminating",
		job:    batchv1.Job{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &done}, Status: batchv1.JobStatus{StartTime: &start}},
		status: "Terminating", completions: "0/1", duration: "10m",
	}, {
		name:   "suspended",
		job:    batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{cond(batchv1.JobSuspended)}}},
		status: "Suspended", completions: "0/1", duration: "",
	}, {
		name:   "failure target before the Failed condition lands",
		job:    batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{cond(batchv1.JobFailureTarget)}}},
		status: "FailureTarget", completions: "0/1", duration: "",
	}, {
		name:   "success criteria met before Complete lands",
		job:    batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet)}}},
		status: "SuccessCriteriaMet", completions: "0/1", duration: "",
	}, {
		name:   "false condition does not count",
		job:    batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionFalse}}}},
		status: "Running", completions: "0/1", duration: "",
	}, {
		name:   "work queue with parallelism",
		job:    batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr(int32(4))}, Status: batchv1.JobStatus{Succeeded: 1}},
		status: "Running", completions: "1/1 of 4", duration: "",
	}, {
		name:   "work queue with parallelism one",
		job:    batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr(int32(1))}},
		status: "Running", completions: "0/1", duration: "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.job.Name = "j"
			cells, err := jobTable.Row(&tt.job)
			if err != nil {
				t.Fatal(err)
			}
			if cells[1] != tt.status || cells[2] != tt.completions || cells[3] != tt.duration {
				t.Errorf("got STATUS=%q COMPLETIONS=%q DURATION=%q, want %q %q %q",
					cells[1], cells[2], cells[3], tt.status, tt.completions, tt.duration)
			}
		})
	}
}

func TestStorageClassCells(t *testing.T) {
	retain := corev1.PersistentVolumeReclaimRetain
	wait := storagev1.VolumeBindingWaitForFirstConsumer
	tests := []struct {
		name        string
		annotations map[string]string
		sc          storagev1.StorageClass
		want        []interface{}
	}{
		{"default by annotation", map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}, storagev1.StorageClass{Provisioner: "skiff.dev/local"},
			[]interface{}{"local (default)", "skiff.dev/local", "Delete", "Immediate", false, "5d"}},
		{"default by beta annotation", map[string]string{"storageclass.beta.kubernetes.io/is-default-class": "true"}, storagev1.StorageClass{Provisioner: "p"},
			[]interface{}{"local (default)", "p", "Delete", "Immediate", false, "5d"}},
		{"annotation not true", map[string]string{"storageclass.kubernetes.io/is-default-class": "false"}, storagev1.StorageClass{Provisioner: "p",
			ReclaimPolicy: &retain, VolumeBindingMode: &wait, AllowVolumeExpansion: ptr(true)},
			[]interface{}{"local", "p", "Retain", "WaitForFirstConsumer", true, "5d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sc.ObjectMeta = metav1.ObjectMeta{Name: "local", Annotations: tt.annotations, CreationTimestamp: ago(5 * 24 * time.Hour)}
			cells, err := storageClassTable.Row(&tt.sc)
			if err != nil {
				t.Fatal(err)
			}
			assertCells(t, cells, tt.want)
		})
	}
}

func TestEndpointsCell(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		out := make([]corev1.EndpointAddress, len(ips))
		for i, ip := range ips {
			out[i].IP = ip
		}
		return out
	}
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"none", nil, "<none>"},
		{"headless without ports", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2")}}, "10.0.0.1,10.0.0.2"},
		{"ports times addresses, capped at three", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2"),
			Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}}, "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."},
		{"IPv6 is bracketed", []corev1.EndpointSubset{{Addresses: addrs("fd00::1"), Ports: []corev1.EndpointPort{{Port: 53}}}}, "[fd00::1]:53"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := endpointsCell(&corev1.Endpoints{Subsets: tt.subsets}); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEndpointSliceCells(t *testing.T) {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-abc"}, AddressType: discoveryv1.AddressTypeIPv4,
		Ports:     []discoveryv1.EndpointPort{{Port: ptr(int32(80))}, {Name: ptr("metrics")}, {}, {Port: ptr(int32(9000))}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2", "10.0.0.3"}}}}
	cells, _ := endpointSliceTable.Row(s)
	assertCells(t, cells, []interface{}{"web-abc", "IPv4", "80,metrics,* + 1 more...", "10.0.0.1,10.0.0.2,10.0.0.3", "<unknown>"})

	empty, _ := endpointSliceTable.Row(&discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv6})
	assertCells(t, empty, []interface{}{"", "IPv6", "<unset>", "<unset>", "<unknown>"})
}

func TestEventCells(t *testing.T) {
	core := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.17a"}, Type: "Warning", Reason: "BackOff",
		Message:        "Back-off restarting failed container\n",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
		Source:         corev1.EventSource{Component: "kubelet", Host: "n1"},
		FirstTimestamp: ago(time.Hour), LastTimestamp: ago(2 * time.Minute), Count: 7}
	want := []interface{}{"2m", "Warning", "BackOff", "pod/web", "spec.containers{app}", "kubelet, n1",
		"Back-off restarting failed container", "60m", int64(7), "web.17a"}
	cells, _ := coreEventTable.Row(core)
	assertCells(t, cells, want)

	// The same event through events.k8s.io/v1 prints the same row.
	ev := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.17a"}, Type: "Warning", Reason: "BackOff",
		Note:                     "Back-off restarting failed container\n",
		Regarding:                corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
		DeprecatedSource:         corev1.EventSource{Component: "kubelet", Host: "n1"},
		DeprecatedFirstTimestamp: ago(time.Hour), DeprecatedLastTimestamp: ago(2 * time.Minute), DeprecatedCount: 7}
	cells, _ = eventsEventTable.Row(ev)
	assertCells(t, cells, want)

	// New-style: no timestamps but eventTime, a series, reporting controller instead of source.
	series := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, Type: "Normal", Reason: "Scheduled",
		Regarding: corev1.ObjectReference{Kind: "Node"}, ReportingController: "skiff-scheduler", ReportingInstance: "cp-1",
		EventTime: metav1.NewMicroTime(testNow.Add(-30 * time.Second)),
		Series:    &eventsv1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(testNow.Add(-5 * time.Second))}}
	cells, _ = eventsEventTable.Row(series)
	assertCells(t, cells, []interface{}{"5s", "Normal", "Scheduled", "node", "", "skiff-scheduler, cp-1", "", "30s", int64(4), "e"})

	single := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, EventTime: metav1.NewMicroTime(testNow.Add(-3 * time.Second)),
		ReportingController: "c"}
	cells, _ = coreEventTable.Row(single)
	assertCells(t, cells, []interface{}{"3s", "", "", "", "", "c", "", "3s", int64(1), "e"})
}

func TestHPATargets(t *testing.T) {
	q := resource.MustParse
	util := func(v int32) *int32 { return &v }
	tests := []struct {
		name string
		obj  runtime.Object
		want string
	}{{
		name: "v1 with CPU target and current",
		obj: &autoscalingv1.HorizontalPodAutoscaler{Spec: autoscalingv1.HorizontalPodAutoscalerSpec{TargetCPUUtilizationPercentage: util(80)},
			Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentCPUUtilizationPercentage: util(42)}},
		want: "cpu: 42%/80%",
	}, {
		name: "v1 before the first measurement",
		obj:  &autoscalingv1.HorizontalPodAutoscaler{Spec: autoscalingv1.HorizontalPodAutoscalerSpec{TargetCPUUtilizationPercentage: util(50)}},
		want: "cpu: <unknown>/50%",
	}, {
		name: "v1 without target",
		obj:  &autoscalingv1.HorizontalPodAutoscaler{},
		want: "<none>",
	}, {
		name: "v2 resource utilization and value, object, then more",
		obj: &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{Metrics: []autoscalingv2.MetricSpec{
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: util(60)}}},
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(q("512Mi"))}}},
			{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Target: autoscalingv2.MetricTarget{AverageValue: ptr(q("1k"))}}},
		}}, Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentMetrics: []autoscalingv2.MetricStatus{
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: util(75)}}},
		}}},
		want: "cpu: 75%/60%, memory: <unknown>/512Mi + 1 more...",
	}, {
		name: "v2 external average and object value",
		obj: &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{Metrics: []autoscalingv2.MetricSpec{
			{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Target: autoscalingv2.MetricTarget{AverageValue: ptr(q("30"))}}},
			{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
				Target: autoscalingv2.MetricTarget{Value: ptr(q("10"))}}},
		}}, Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentMetrics: []autoscalingv2.MetricStatus{
			{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{
				Current: autoscalingv2.MetricValueStatus{AverageValue: ptr(q("12"))}}},
			{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricStatus{
				Current: autoscalingv2.MetricValueStatus{Value: ptr(q("3"))}}},
		}}},
		want: "12/30 (avg), 3/10",
	}, {
		name: "v2 without metrics",
		obj:  &autoscalingv2.HorizontalPodAutoscaler{},
		want: "<none>",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cells, err := hpaTable.Row(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if cells[2] != tt.want {
				t.Errorf("TARGETS %q, want %q", cells[2], tt.want)
			}
		})
	}
}

func TestResourceQuotaCells(t *testing.T) {
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute"}, Status: corev1.ResourceQuotaStatus{
		Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("2"), "pods": resource.MustParse("10"),
			"limits.memory": resource.MustParse("4Gi"), "limits.cpu": resource.MustParse("4")},
		Used: corev1.ResourceList{"requests.cpu": resource.MustParse("500m"), "pods": resource.MustParse("3")},
	}}
	cells, _ := resourceQuotaTable.Row(q)
	assertCells(t, cells, []interface{}{"compute", "pods: 3/10, requests.cpu: 500m/2", "limits.cpu: 0/4, limits.memory: 0/4Gi", "<unknown>"})
}

func TestPersistentVolumeClaimCells(t *testing.T) {
	unbound := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec:   corev1.PersistentVolumeClaimSpec{StorageClassName: ptr("local")},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	cells, _ := persistentVolumeClaimTable.Row(unbound)
	assertCells(t, cells, []interface{}{"data", "Pending", "", "", "", "local", "<unset>", "<unknown>", "<unset>"})

	fs := corev1.PersistentVolumeFilesystem
	bound := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data",
		Annotations: map[string]string{corev1.BetaStorageClassAnnotation: "legacy"}},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1", StorageClassName: ptr("local"), VolumeMode: &fs},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOnce},
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}}
	cells, _ = persistentVolumeClaimTable.Row(bound)
	assertCells(t, cells, []interface{}{"data", "Bound", "pv-1", "10Gi", "RWO,RWX", "legacy", "<unset>", "<unknown>", "Filesystem"})
}

func TestControllerRevisionCells(t *testing.T) {
	cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Controller: ptr(true)}}}, Revision: 3}
	cells, err := controllerRevisionTable.Row(cr)
	if err != nil {
		t.Fatal(err)
	}
	assertCells(t, cells, []interface{}{"web-7d9f", "statefulset.apps/web", int64(3), "<unknown>"})

	cr.OwnerReferences[0].APIVersion = "a/b/c"
	if _, err := controllerRevisionTable.Row(cr); err == nil {
		t.Error("a malformed owner apiVersion must be an error")
	}
}
