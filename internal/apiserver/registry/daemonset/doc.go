// Package daemonset owns the API rules for apps/v1 DaemonSets: defaults (a one-node-at-a-time rolling
// update, history limit), spec and status validation and the immutable selector. It must never place
// pods on nodes; that is the DaemonSet controller's work.
package daemonset
