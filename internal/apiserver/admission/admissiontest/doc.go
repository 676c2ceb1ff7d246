// Package admissiontest provides an in-memory admission.Lookup for the unit tests of admission
// plugins: objects keyed by resource, namespace and name, with resourceVersions that make Update
// fail with a Conflict on a stale object, as the API server's Lookup does.
//
// It is for tests only and must never be imported by production code; the integration tests of
// the plugins run them against the real server's Lookup.
package admissiontest
