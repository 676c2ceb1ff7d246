// Package registrytest holds the assertions and fixtures the strategy tests under registry/ share:
// comparing a field.ErrorList against expected error types and paths, and small valid objects.
//
// It is imported by tests only and must never be imported by production code.
package registrytest
