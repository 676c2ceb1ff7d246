// Package testserver starts a real skiff server (API server on embedded etcd, in a temporary data
// dir, on an ephemeral loopback port) for integration tests, and hands back clients for it. Every
// server is private to its test and torn down when the test ends, also when it fails.
//
// It is for tests only and must never be imported by production code.
package testserver
