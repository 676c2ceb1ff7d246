// Package pvprotection is the PV protection controller: it removes the kubernetes.io/pv-protection
// finalizer from a PersistentVolume being deleted once the volume is no longer Bound to a claim,
// so a volume in use is never removed from under its claim; it also adds the finalizer to live
// volumes that lack it.
//
// It must never decide on a stale object: the finalizer goes with an update carrying the
// resourceVersion it judged, so a volume that became Bound meanwhile makes the write conflict and
// the decision is taken again. It never touches claims and never deletes anything.
//
// Usage:
//
//	c, err := pvprotection.New(pvprotection.Config{Client: cs, Informers: informers, Logger: logger})
//	go c.Run(ctx, 1)
package pvprotection
