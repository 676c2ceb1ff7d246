// Package priority is the Priority admission plugin: a pod's spec.priority and
// spec.preemptionPolicy come from its PriorityClass (or from the cluster's globalDefault class, or
// are 0), never from the pod's author; and at most one PriorityClass may be the global default.
//
// It must never create or change PriorityClasses; the built-in ones are bootstrapped by the API
// server.
package priority
