// Package registrytest holds the assertions the strategy packages' tests share: comparing a
// field.ErrorList against the expected error types and paths.
//
// It is imported by tests only and must never be imported by production code.
package registrytest
