// Package pods runs real pods end to end: `skiff server` in-process with its node agent on, the
// project's test images imported into the agent's image store, the node's pod network in a
// network namespace of the test's own, and pods bound to the node by spec.nodeName. It checks
// what a user sees (phase, conditions, container states, events, the pod answering on its
// address) and that nothing is left on the host once pods are deleted.
package pods
