// Package nodes holds end-to-end scenarios against real node agents run as `skiff kubelet`
// (and `skiff server`) processes, each in a network namespace of its own acting as a host
// (package testcluster): several nodes under one API server, agents and servers killed and
// restarted under running pods, kubectl on real containers, and image pulls through an in-process
// registry. They run as root and skip otherwise.
package nodes
