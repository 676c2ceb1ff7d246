// Package fakekubelet stands in for a scheduler and a node agent in tests and benchmarks that run
// an API server without nodes: it registers a Ready Node, binds unscheduled pods of chosen
// namespaces to it through pods/binding, reports them Running and Ready through pods/status,
// and finishes graceful deletions, all through the API as the real components would.
//
// It is test-only: it runs no containers and must never be wired into skiff itself.
package fakekubelet
