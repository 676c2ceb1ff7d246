// Package priorityclass is the strategy for scheduling.k8s.io/v1 PriorityClasses: the
// PreemptLowerPriority default, the ceiling on user priorities, the reserved "system-" names with
// their fixed values, and a value and preemption policy that never change.
//
// It must never create the built-in system classes: the API server's bootstrap does that.
package priorityclass
