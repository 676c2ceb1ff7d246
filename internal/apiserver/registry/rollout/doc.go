// Package rollout owns the validation of the rollout knobs and counters that Deployments, DaemonSets
// and StatefulSets share (maxSurge, maxUnavailable as an integer or a percentage, minReadySeconds,
// revisionHistoryLimit, the collision count).
// It must never decide how a rollout proceeds: that arithmetic belongs to the controllers.
package rollout
