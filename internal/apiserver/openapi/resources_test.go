package openapi

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

func res(gv schema.GroupVersion, resource, kind string, namespaced bool, obj, list runtime.Object, subs ...Subresource) Resource {
	return Resource{GVR: gv.WithResource(resource), Kind: kind, Namespaced: namespaced, Object: obj, List: list, Subresources: subs}
}

// testResources is a server's worth of resources across core, apps, batch, autoscaling (two
// versions), events (two groups with one kind name) and discovery.
func testResources() []Resource {
	status := Subresource{Name: "status"}
	scale := Subresource{Name: "scale", Object: &autoscalingv1.Scale{}, GVK: scaleGVK}
	core, apps := corev1.SchemeGroupVersion, appsv1.SchemeGroupVersion
	return []Resource{
		res(core, "pods", "Pod", true, &corev1.Pod{}, &corev1.PodList{}, status,
			Subresource{Name: "binding", Object: &corev1.Binding{}, GVK: core.WithKind("Binding"), Verbs: []string{"create"}}),
		res(core, "configmaps", "ConfigMap", true, &corev1.ConfigMap{}, &corev1.ConfigMapList{}),
		res(core, "secrets", "Secret", true, &corev1.Secret{}, &corev1.SecretList{}),
		res(core, "services", "Service", true, &corev1.Service{}, &corev1.ServiceList{}, status),
		res(core, "endpoints", "Endpoints", true, &corev1.Endpoints{}, &corev1.EndpointsList{}),
		res(core, "events", "Event", true, &corev1.Event{}, &corev1.EventList{}),
		res(core, "namespaces", "Namespace", false, &corev1.Namespace{}, &corev1.NamespaceList{}, status),
		res(core, "nodes", "Node", false, &corev1.Node{}, &corev1.NodeList{}, status),
		res(core, "serviceaccounts", "ServiceAccount", true, &corev1.ServiceAccount{}, &corev1.ServiceAccountList{}),
		res(core, "persistentvolumes", "PersistentVolume", false, &corev1.PersistentVolume{}, &corev1.PersistentVolumeList{}, status),
		res(core, "persistentvolumeclaims", "PersistentVolumeClaim", true, &corev1.PersistentVolumeClaim{}, &corev1.PersistentVolumeClaimList{}, status),
		res(core, "replicationcontrollers", "ReplicationController", true, &corev1.ReplicationController{}, &corev1.ReplicationControllerList{}, status, scale),
		res(core, "resourcequotas", "ResourceQuota", true, &corev1.ResourceQuota{}, &corev1.ResourceQuotaList{}, status),
		res(core, "limitranges", "LimitRange", true, &corev1.LimitRange{}, &corev1.LimitRangeList{}),
		res(core, "podtemplates", "PodTemplate", true, &corev1.PodTemplate{}, &corev1.PodTemplateList{}),
		res(apps, "deployments", "Deployment", true, &appsv1.Deployment{}, &appsv1.DeploymentList{}, status, scale),
		res(apps, "replicasets", "ReplicaSet", true, &appsv1.ReplicaSet{}, &appsv1.ReplicaSetList{}, status, scale),
		res(apps, "statefulsets", "StatefulSet", true, &appsv1.StatefulSet{}, &appsv1.StatefulSetList{}, status, scale),
		res(apps, "daemonsets", "DaemonSet", true, &appsv1.DaemonSet{}, &appsv1.DaemonSetList{}, status),
		res(apps, "controllerrevisions", "ControllerRevision", true, &appsv1.ControllerRevision{}, &appsv1.ControllerRevisionList{}),
		res(batchv1.SchemeGroupVersion, "jobs", "Job", true, &batchv1.Job{}, &batchv1.JobList{}, status),
		res(batchv1.SchemeGroupVersion, "cronjobs", "CronJob", true, &batchv1.CronJob{}, &batchv1.CronJobList{}, status),
		res(autoscalingv1.SchemeGroupVersion, "horizontalpodautoscalers", "HorizontalPodAutoscaler", true,
			&autoscalingv1.HorizontalPodAutoscaler{}, &autoscalingv1.HorizontalPodAutoscalerList{}, status),
		res(autoscalingv2.SchemeGroupVersion, "horizontalpodautoscalers", "HorizontalPodAutoscaler", true,
			&autoscalingv2.HorizontalPodAutoscaler{}, &autoscalingv2.HorizontalPodAutoscalerList{}, status),
		res(eventsv1.SchemeGroupVersion, "events", "Event", true, &eventsv1.Event{}, &eventsv1.EventList{}),
		res(discoveryv1.SchemeGroupVersion, "endpointslices", "EndpointSlice", true, &discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{}),
	}
}
