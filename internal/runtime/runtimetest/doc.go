// Package runtimetest is the contract test suite every runtime.Runtime implementation passes
// (the fake and the libcontainer one), plus fixtures for real runtimes (a busybox image made
// from the host's busybox-static). It owns what "behaves like a runtime" means for the kubelet;
// it must never test an implementation's internals, which belong to that implementation's tests.
package runtimetest
