// Package registrytest holds the assertions and fixtures the strategy tests under registry/ share. It
// is imported by tests only and must never be imported by production code.
package registrytest
