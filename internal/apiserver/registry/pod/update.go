package pod

import (
	"fmt"
	"math"
	"net"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// updatablePodSpecFields is what a pod update may touch; a running pod is otherwise immutable because
// the kubelet has already acted on the rest. Clients match on this text, so it reads like upstream's.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// ValidatePodUpdate checks an update of the main pod resource: the new pod must be valid, and only the
// fields in updatablePodSpecFields (plus removal of scheduling gates) may differ from the stored one.
func ValidatePodUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := ValidatePodSpec(&newPod.Spec, specPath)
	errs = append(errs, validateImageWhitespace(&newPod.Spec, specPath)...)

	if len(newPod.Spec.Containers) != len(oldPod.Spec.Containers) {
		return append(errs, field.Forbidden(specPath.Child("containers"), "pod updates may not add or remove containers"))
	}
	if len(newPod.Spec.InitContainers) != len(oldPod.Spec.InitContainers) {
		return append(errs, field.Forbidden(specPath.Child("initContainers"), "pod updates may not add or remove containers"))
	}

	adsPath := specPath.Child("activeDeadlineSeconds")
	switch newADS, oldADS := newPod.Spec.ActiveDeadlineSeconds, oldPod.Spec.ActiveDeadlineSeconds; {
	case newADS == nil && oldADS != nil:
		errs = append(errs, field.Invalid(adsPath, newADS, "must not update from a positive integer to nil value"))
	case newADS != nil && (*newADS < 0 || *newADS > math.MaxInt32):
		errs = append(errs, field.Invalid(adsPath, *newADS, validation.InclusiveRangeError(0, math.MaxInt32)))
	case newADS != nil && oldADS != nil && *newADS > *oldADS:
		// The deadline can only be brought closer: extending it would let a pod escape a limit an
		// admin or controller imposed.
		errs = append(errs, field.Invalid(adsPath, *newADS, "must be less than or equal to previous value"))
	}

	errs = append(errs, validateTolerationsUpdate(newPod.Spec.Tolerations, oldPod.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateSchedulingGatesUpdate(newPod.Spec.SchedulingGates, oldPod.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	// Start from the stored spec, copy over what may change, and compare with what was sent: any
	// remaining difference is a forbidden change.
	munged := oldPod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = newPod.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = newPod.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = newPod.Spec.ActiveDeadlineSeconds
	munged.Tolerations = newPod.Spec.Tolerations
	munged.SchedulingGates = newPod.Spec.SchedulingGates
	if g := oldPod.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		if ng := newPod.Spec.TerminationGracePeriodSeconds; ng != nil && *ng == 1 {
			munged.TerminationGracePeriodSeconds = ng
		}
	}
	if !equality.Semantic.DeepEqual(*munged, newPod.Spec) {
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%s",
			strings.Join(updatablePodSpecFields, ","), diff.Diff(*munged, newPod.Spec))))
	}
	return errs
}

// validateTolerationsUpdate lets tolerations be added but not changed or removed: the scheduler and
// the taint manager already placed the pod on the strength of the old ones. Only tolerationSeconds of
// an existing toleration may move.
func validateTolerationsUpdate(newT, oldT []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, o := range oldT {
		o.TolerationSeconds = nil
		found := false
		for _, n := range newT {
			n.TolerationSeconds = nil
			if reflect.DeepEqual(o, n) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

func validateSchedulingGatesUpdate(newG, oldG []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	old := sets.New[string]()
	for _, g := range oldG {
		old.Insert(g.Name)
	}
	var errs field.ErrorList
	for _, g := range newG {
		if !old.Has(g.Name) {
			errs = append(errs, field.Forbidden(fldPath, fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return errs
}

// validateImageWhitespace applies to real pods only: templates have historically accepted padded
// images that a controller fills in later.
func validateImageWhitespace(s *corev1.PodSpec, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(cs []corev1.Container, p *field.Path) {
		for i, c := range cs {
			if c.Image != "" && c.Image != strings.TrimSpace(c.Image) {
				errs = append(errs, field.Invalid(p.Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
			}
		}
	}
	check(s.InitContainers, specPath.Child("initContainers"))
	check(s.Containers, specPath.Child("containers"))
	return errs
}

var supportedPhases = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}

func terminal(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }

// ValidatePodStatusUpdate checks a write to the status subresource (kubelet, scheduler, controllers).
func ValidatePodStatusUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	statusPath := field.NewPath("status")
	st := &newPod.Status
	var errs field.ErrorList
	if st.Phase != "" && !slices.Contains(supportedPhases, st.Phase) {
		errs = append(errs, field.NotSupported(statusPath.Child("phase"), st.Phase, supportedPhases))
	}
	if terminal(oldPod.Status.Phase) && st.Phase != oldPod.Status.Phase {
		// A finished pod's containers are gone; reviving the phase would make controllers count a
		// pod that will never run again.
		errs = append(errs, field.Forbidden(statusPath.Child("phase"), fmt.Sprintf("may not transition from terminal phase %s to %s", oldPod.Status.Phase, st.Phase)))
	}
	if st.NominatedNodeName != "" {
		errs = append(errs, nameErrs(statusPath.Child("nominatedNodeName"), st.NominatedNodeName, apivalidation.NameIsDNSSubdomain)...)
	}
	errs = append(errs, validateIPs(st.PodIP, podIPStrings(st.PodIPs), statusPath.Child("podIP"), statusPath.Child("podIPs"))...)
	errs = append(errs, validateIPs(st.HostIP, hostIPStrings(st.HostIPs), statusPath.Child("hostIP"), statusPath.Child("hostIPs"))...)
	if st.ObservedGeneration < 0 {
		errs = append(errs, apivalidation.ValidateNonnegativeField(st.ObservedGeneration, statusPath.Child("observedGeneration"))...)
	}
	for i, c := range st.Conditions {
		p := statusPath.Child("conditions").Index(i)
		if c.Type == "" {
			errs = append(errs, field.Required(p.Child("type"), "must specify a condition type"))
		}
		valid := []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown}
		if !slices.Contains(valid, c.Status) {
			errs = append(errs, field.NotSupported(p.Child("status"), c.Status, valid))
		}
	}
	if newPod.Spec.RestartPolicy == corev1.RestartPolicyNever {
		errs = append(errs, validateNoRestart(st.ContainerStatuses, oldPod.Status.ContainerStatuses, statusPath.Child("containerStatuses"))...)
		errs = append(errs, validateNoRestart(st.InitContainerStatuses, oldPod.Status.InitContainerStatuses, statusPath.Child("initContainerStatuses"))...)
	}
	return errs
}

// validateNoRestart keeps a terminated container terminated under restartPolicy Never.
func validateNoRestart(newS, oldS []corev1.ContainerStatus, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, n := range newS {
		for _, o := range oldS {
			if o.Name == n.Name && o.State.Terminated != nil && n.State.Terminated == nil {
				errs = append(errs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

func podIPStrings(ips []corev1.PodIP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP
	}
	return out
}

func hostIPStrings(ips []corev1.HostIP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP
	}
	return out
}

// validateIPs checks the singular and plural forms of an address: the plural list is at most one
// address per family, and its first entry is the singular field.
func validateIPs(single string, list []string, singlePath, listPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if single != "" && net.ParseIP(single) == nil {
		errs = append(errs, field.Invalid(singlePath, single, "must be a valid IP address"))
	}
	if len(list) > 2 {
		errs = append(errs, field.TooMany(listPath, len(list), 2))
	}
	seen := sets.New[string]()
	for i, ip := range list {
		p := listPath.Index(i).Child("ip")
		if net.ParseIP(ip) == nil {
			errs = append(errs, field.Invalid(p, ip, "must be a valid IP address"))
		}
		if seen.Has(ip) {
			errs = append(errs, field.Duplicate(p, ip))
		}
		seen.Insert(ip)
	}
	if len(list) > 0 && single != "" && list[0] != single {
		errs = append(errs, field.Invalid(listPath.Index(0).Child("ip"), list[0], fmt.Sprintf("must match `%s`", singlePath.String())))
	}
	return errs
}
