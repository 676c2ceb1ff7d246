// Package podgc is the pod garbage collector: every period it force-deletes (grace 0) the pods
// nobody else will finish: terminated pods beyond a threshold (oldest first), pods bound to a
// node that no longer exists (after a quarantine and a live check of the node), terminating pods
// on a NotReady node an administrator marked out of service, and terminating pods that were never
// scheduled. A pod still running is first marked Failed, with the DisruptionTarget condition when
// its node is gone, so that its controllers see why it went.
//
// It must never delete a pod whose node might still run it: a node's absence is confirmed with a
// live read, never decided from the cache alone.
//
// Usage:
//
//	c, err := podgc.New(podgc.Config{Client: cs, Informers: informers, Logger: logger})
//	go c.Run(ctx, 1)
package podgc
