// Package createfields computes the metadata.managedFields entry of a create (an update from an
// empty object) directly from the Go-typed object, walking it with a plan built once per type
// from the structured-merge-diff schema. It produces the same FieldsV1 bytes as the generic field
// manager (compare against the empty object, the reset filter for status, the metadata fields
// the manager strips, the same serialization) at a fraction of the cost: no reflection through
// the generic value layer, no fieldpath.Set, no second encoding pass.
//
// It must never guess: whenever an object holds anything the plan does not model exactly
// (incoming managedFields, a last-applied annotation, duplicate or missing list keys, types the
// schema does not describe, values converted through custom marshalers into non-scalars) it
// reports that it cannot, and the caller runs the full field manager. It never runs for server-side
// apply or for updates of existing objects.
package createfields
