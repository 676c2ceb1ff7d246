// Package resourcequota is the ResourceQuota controller: it re-measures every quota's
// status.used from the objects in its namespace, and copies spec.hard to status.hard, when a
// quota changes, when objects it counts go away or stop counting (pods finishing, deletes), and
// on a full resync every few minutes. The ResourceQuota admission plugin charges writes as they
// happen; this controller corrects what drifts (a write charged but never stored, objects removed
// without an admitted delete). Both count with internal/quotausage.
//
// It must never write anything but ResourceQuota status, nor refuse or delete objects.
//
// Usage:
//
//	c, err := resourcequota.New(resourcequota.Config{Client: cs, Informers: informers,
//		Metadata: md, Mapper: mapper, Logger: logger})
//	go c.Run(ctx, 5)
package resourcequota
