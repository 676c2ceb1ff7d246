// Package horizontalpodautoscaler is the strategy for HorizontalPodAutoscalers, stored as
// autoscaling/v2 and also served as autoscaling/v1. It owns the v1 <-> v2 conversion (the CPU target
// maps to a Resource metric; what v1 cannot express travels in the autoscaling.alpha.kubernetes.io/*
// annotations, as upstream), the v2 defaults (minReplicas, the CPU metric, behavior rules) and the
// validation of targets, metrics and behavior.
//
// It must never compute replica counts or read metrics: that is the HPA controller's job.
package horizontalpodautoscaler
