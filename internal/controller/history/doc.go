// Package history keeps the ControllerRevisions of workload controllers that version a pod
// template themselves (StatefulSet, DaemonSet): it encodes a template as the revision data kubectl
// rolls back with, names and hashes revisions (`<parent>-<hash>`, the hash also being the pods'
// `controller-revision-hash` label), creates them with hash-collision handling, renumbers a revision
// that becomes current again, and trims history beyond a limit.
//
// It owns the revision format and the revision objects, nothing else: it must never touch pods or
// the parent's status (the caller persists the collision count it returns), and never delete a
// revision the caller says is still in use.
package history
