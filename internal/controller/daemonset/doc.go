// Package daemonset is the DaemonSet controller: it keeps one pod of each set on every node the
// set's node selector, required node affinity and tolerations admit (with the tolerations upstream
// adds to every daemon pod), pins each pod to its node with required node affinity on
// `metadata.name` and leaves the binding to the scheduler, removes pods from nodes that no longer
// admit them or no longer exist, rolls template changes out node by node within maxUnavailable or
// maxSurge, keeps the set's ControllerRevisions, and reports status.
//
// It works only through the API server and reads only from informer caches; it must never bind a
// pod to a node (that is the scheduler's), and never start another round of creates or deletes
// for a set before the cache has shown the previous round (expectations), so a burst of events
// cannot put two pods on one node.
//
// Usage:
//
//	c, err := daemonset.New(daemonset.Config{Client: client, Informers: factory, Recorder: rec, Logger: log})
//	factory.Start(ctx.Done())
//	c.Run(ctx, 2)
package daemonset
