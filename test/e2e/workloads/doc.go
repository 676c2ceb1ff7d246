// Package workloads runs the controllers and the scheduler end to end against real containers:
// a testcluster (API server with its scheduler and controller manager, node agents as real
// `skiff kubelet` processes in network namespaces of their own) and the project's test images.
// It checks what a user of Deployments, StatefulSets, DaemonSets and Jobs relies on (rollouts
// that keep enough pods ready, ordered StatefulSet identities, one daemon pod per node, Jobs
// that complete, cascading deletes, namespaces that go with their contents, pods evicted from a
// node whose agent died) by watching the pods as they change, and that nothing of a deleted pod
// is left on its node. It is a test-only package: it must never be imported, and its tests
// must never sleep in place of waiting for a state.
package workloads
