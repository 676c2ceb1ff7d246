// Package deployment is the Deployment controller: it rolls a Deployment's pod template out
// through ReplicaSets named <deployment>-<pod-template-hash>, with the RollingUpdate (maxSurge,
// maxUnavailable) or Recreate strategy, scales proportionally mid-rollout, keeps
// revisionHistoryLimit old ReplicaSets, and reports the status and the Progressing and Available
// conditions that `kubectl rollout status` reads.
//
// It follows the controller skeleton of DESIGN.md; it acts only on ReplicaSets (their replicas and
// annotations) and the Deployment's annotations and status. It must never create or delete pods:
// that is the ReplicaSet controller's job.
package deployment
