// Package namespace is the strategy for core/v1 Namespaces: the metadata.name label, the
// "kubernetes" finalizer, the Active and Terminating phases, and the rules on names, finalizers and phase.
//
// It must never delete or finalize a namespace's contents: that is the namespace controller's job,
// driven by the finalizer this package puts in place.
package namespace
