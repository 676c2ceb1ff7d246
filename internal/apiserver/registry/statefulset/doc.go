// Package statefulset owns the API rules for apps/v1 StatefulSets: defaults (ordered pod management,
// partitioned rolling update, claim retention, claim templates), spec and status validation, and the
// short list of spec fields an update may change. It must never create pods or claims; that is the
// StatefulSet controller's work.
package statefulset
