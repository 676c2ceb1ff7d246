// Package embeddedkubectl runs the real kubectl (k8s.io/kubectl, as `skiff kubectl` embeds it)
// in-process in tests, against a kubeconfig, and fails the test when it fails.
//
// It is test-only: it owns nothing but the in-process invocation (kubectl's global fatal handler
// is swapped for the length of one run, so runs are serialised), and must never be imported by
// skiff itself.
package embeddedkubectl
