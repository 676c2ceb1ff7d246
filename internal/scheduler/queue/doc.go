// Package queue is the scheduler's queue of pods waiting for a node: an active heap ordered by
// priority (then by how long the pod has waited), a back-off heap for pods that failed recently
// (1 s doubling per attempt up to 10 s, upstream's podInitialBackoff/podMaxBackoff), and an
// unschedulable set that only cluster events move back (MoveAll), plus a flush of pods left there
// longer than 5 minutes as upstream's safety net. Time comes from an injected clock, so tests step
// it instead of sleeping.
//
// It orders and parks pods; it must never decide where a pod goes nor talk to the API server.
package queue
