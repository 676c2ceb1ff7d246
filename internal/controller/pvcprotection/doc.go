// Package pvcprotection is the PVC protection controller: it removes the
// kubernetes.io/pvc-protection finalizer from a PersistentVolumeClaim being deleted once no
// scheduled, non-terminated pod uses it (through a persistentVolumeClaim volume or a generic
// ephemeral volume), so a claim is never removed from under a running pod; it also adds the
// finalizer to live claims that lack it (created before the admission plugin added it).
//
// It must never remove the finalizer on the cache's word alone: before removing it, it lists the
// claim's namespace live from the API server, because the pod informer can lag behind a pod that
// was just bound. It never touches pods, and never deletes anything.
//
// Usage:
//
//	c, err := pvcprotection.New(pvcprotection.Config{Client: cs, Informers: informers, Logger: logger})
//	go c.Run(ctx, 1)
package pvcprotection
