// Package podsets tests the StatefulSet and DaemonSet controllers against a real API server on
// embedded etcd, with fake nodes (test/fakenodes) binding pods and reporting them Running and
// Ready, and checks what users see through the embedded kubectl (`get`, `rollout status`,
// `rollout history`, `rollout undo`).
package podsets
