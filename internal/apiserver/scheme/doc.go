// Package scheme holds the one runtime.Scheme of the API server: every k8s.io/api group-version the
// server serves, the meta.k8s.io types it answers with (Table, PartialObjectMetadata, Status) and the
// discovery types. It owns the serializers built on that scheme (JSON, YAML, protobuf).
//
// It must never hold per-request state: everything here is built once at init and read-only after.
package scheme
