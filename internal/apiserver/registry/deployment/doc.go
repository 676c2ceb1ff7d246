// Package deployment owns the API rules for apps/v1 Deployments: the v1 defaults (one replica, a 25%/25%
// rolling update, history and progress limits), spec validation, the immutable selector and the status
// checks. It must never roll anything out or touch ReplicaSets; the pod-template-hash label is the
// controller's to add, never the API's.
package deployment
