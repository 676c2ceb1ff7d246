// Package garbagecollector owns the ownerReference graph of the cluster and acts on it: it deletes
// dependents whose owners are all gone (background propagation), deletes the dependents of an owner
// marked with the foregroundDeletion finalizer before letting the owner go, and strips an owner's
// references from its dependents when the owner carries the orphan finalizer. It watches every
// resource that supports list, watch and delete through metadata-only informers, and re-reads
// discovery periodically so new resources are followed.
//
// It must never delete an object on the word of its cache alone: an owner is declared absent only
// after a live GET by name shows it missing or replaced (another uid), and every delete or patch it
// sends carries a precondition (uid and resourceVersion, or JSON-patch tests) on the state it decided
// from. It never sets the propagation finalizers itself; the API server does, from propagationPolicy.
//
// Usage:
//
//	gc, err := garbagecollector.New(garbagecollector.Config{Metadata: md, Discovery: disc,
//		Informers: metadataInformers, Recorder: recorder, Logger: logger})
//	go gc.Run(ctx, 20)
package garbagecollector
