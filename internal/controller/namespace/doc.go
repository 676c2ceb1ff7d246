// Package namespace is the namespace controller: it empties a namespace that is being deleted
// (deletionTimestamp set, the "kubernetes" finalizer in spec.finalizers) by deleting every
// namespaced resource in it that discovery lists, reports its progress in the namespace's status
// conditions as upstream does, waits for what is still going (pods in their grace period, objects
// held by finalizers), and then removes the "kubernetes" finalizer through namespaces/finalize so
// that the API server deletes the namespace.
//
// It must never force anything: no grace-period override, no finalizer removed from the content,
// no finalize call while anything remains in the namespace.
//
// Usage:
//
//	c, err := namespace.New(namespace.Config{Client: cs, Metadata: md, Discovery: cs.Discovery(),
//		Informers: informers, Logger: logger})
//	go c.Run(ctx, 10)
package namespace
