package kubelet

import "context"

// NodeReporter keeps the Node object of this agent: registration, status and heartbeats.
// nodestatus.Agent is the one the agent uses; tests may pass their own.
type NodeReporter interface {
	// Run registers the Node, then keeps it until ctx ends.
	Run(ctx context.Context) error
	// Registered is closed once the Node exists.
	Registered() <-chan struct{}
}
