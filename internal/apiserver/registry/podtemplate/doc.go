// Package podtemplate owns the API rules for core/v1 PodTemplates: the pod template defaults and
// validation, delegated to package pod. It must never create pods from a template.
package podtemplate
