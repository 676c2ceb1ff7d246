// Package leaderlease runs a control-plane component only while it holds a coordination.k8s.io
// Lease, with client-go's leader election and upstream's timings (15 s lease, 10 s renew
// deadline, 2 s retry), releasing the Lease when the component stops so a standby takes over at
// once rather than after the lease expires.
//
// It elects; it must never run the component's work itself or touch any object but its Lease.
package leaderlease
