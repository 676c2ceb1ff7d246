// Package rollout owns the validation of the rolling-update knobs that Deployments, DaemonSets and
// StatefulSets share (maxSurge, maxUnavailable as an integer or a percentage). It must never decide
// how a rollout proceeds: that arithmetic belongs to the controllers.
package rollout
