// Package pod owns the API rules for core/v1 Pods and for the pod templates embedded in every
// workload: the v1 defaults, the validation of a pod spec, the narrow set of changes an existing pod
// accepts, the fields a pod field selector may use, and the grace period of a delete. The workload packages (deployment, job, ...)
// call DefaultPodTemplateSpec and ValidatePodTemplateSpec rather than re-deriving pod rules.
//
// It must never reach storage, admission or other objects: rules that depend on other objects (the
// service account exists, the node exists, quota) belong to admission, and the scheduler owns
// spec.nodeName after creation.
package pod
