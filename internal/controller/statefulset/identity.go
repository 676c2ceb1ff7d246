package statefulset

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/controller/history"
)

// Labels every pod of a set carries, as upstream.
const (
	PodNameLabel  = appsv1.StatefulSetPodNameLabel // statefulset.kubernetes.io/pod-name
	PodIndexLabel = appsv1.PodIndexLabel           // apps.kubernetes.io/pod-index
)

var memberName = regexp.MustCompile(`^(.*)-([0-9]+)$`)

// ordinalOf splits a pod name into the set it belongs to and its ordinal.
func ordinalOf(name string) (parent string, ordinal int, ok bool) {
	m := memberName.FindStringSubmatch(name)
	if m == nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(m[2])
	if err != nil {
		return "", 0, false
	}
	return m[1], n, true
}

func isMember(set *appsv1.StatefulSet, p *corev1.Pod) bool {
	parent, _, ok := ordinalOf(p.Name)
	return ok && parent == set.Name
}

func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil && set.Spec.Ordinals.Start > 0 {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func replicaCount(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(max(*set.Spec.Replicas, 0))
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Name, ordinal)
}

// ClaimName is the claim of one template for one ordinal: `<template>-<set>-<ordinal>`.
func ClaimName(set *appsv1.StatefulSet, template string, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", template, set.Name, ordinal)
}

// newPod builds the pod of an ordinal from a template of a given revision.
func newPod(set *appsv1.StatefulSet, tmpl *corev1.PodTemplateSpec, revision string, ordinal int) *corev1.Pod {
	name := podName(set, ordinal)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       set.Namespace,
			Labels:          make(map[string]string, len(tmpl.Labels)+3),
			Annotations:     copyMap(tmpl.Annotations),
			Finalizers:      append([]string(nil), tmpl.Finalizers...),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, Kind)},
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	for k, v := range tmpl.Labels {
		p.Labels[k] = v
	}
	p.Labels[PodNameLabel] = name
	p.Labels[PodIndexLabel] = strconv.Itoa(ordinal)
	p.Labels[history.HashLabel] = revision
	p.Spec.Hostname = name
	p.Spec.Subdomain = set.Spec.ServiceName
	// Each claim template becomes the pod's volume of that name, replacing one the template has.
	for _, ct := range set.Spec.VolumeClaimTemplates {
		v := corev1.Volume{Name: ct.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(set, ct.Name, ordinal)},
		}}
		replaced := false
		for i := range p.Spec.Volumes {
			if p.Spec.Volumes[i].Name == ct.Name {
				p.Spec.Volumes[i], replaced = v, true
			}
		}
		if !replaced {
			p.Spec.Volumes = append(p.Spec.Volumes, v)
		}
	}
	return p
}

// identityMatches reports whether the mutable parts of a pod's identity (its labels) are right.
func identityMatches(set *appsv1.StatefulSet, p *corev1.Pod, ordinal int) bool {
	return p.Labels[PodNameLabel] == p.Name && p.Labels[PodIndexLabel] == strconv.Itoa(ordinal)
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// templateOf decodes the pod template a revision holds.
func templateOf(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var holder struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &holder); err != nil {
		return nil, fmt.Errorf("revision %s/%s: %w", rev.Namespace, rev.Name, err)
	}
	return &holder.Spec.Template, nil
}

func revisionOf(p *corev1.Pod) string { return p.Labels[history.HashLabel] }

func isCreated(p *corev1.Pod) bool { return p.Status.Phase != "" }

func isTerminating(p *corev1.Pod) bool { return p.DeletionTimestamp != nil }

func isFinished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func isRunningAndReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return p.Status.Phase == corev1.PodRunning && c != nil && c.Status == corev1.ConditionTrue
}

// availableIn says how long until a running and ready pod counts as available (0: it does now;
// negative: it is not ready at all).
func availableIn(p *corev1.Pod, minReady int32, now time.Time) time.Duration {
	if !isRunningAndReady(p) {
		return -1
	}
	if minReady <= 0 {
		return 0
	}
	since := readyCondition(p).LastTransitionTime.Time
	left := since.Add(time.Duration(minReady) * time.Second).Sub(now)
	return max(left, 0)
}

// isHealthy is what OrderedReady waits for: running, ready, available and not going away.
func isHealthy(p *corev1.Pod, minReady int32, now time.Time) bool {
	return p != nil && !isTerminating(p) && availableIn(p, minReady, now) == 0
}

// maxUnavailable resolves the rolling update's budget against the replica count (at least 1).
func maxUnavailable(set *appsv1.StatefulSet, replicas int) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil {
		return 1
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, replicas, false)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func partition(set *appsv1.StatefulSet) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.Partition == nil {
		return 0
	}
	return int(max(*ru.Partition, 0))
}
