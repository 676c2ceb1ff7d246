// Package namespacelifecycle is the NamespaceLifecycle admission plugin: namespaced objects may be
// created only in a namespace that exists and is not being terminated, and the system namespaces
// may never be deleted.
//
// It only refuses; it must never change an object, and never create a namespace on a request's
// behalf (upstream's NamespaceAutoProvision does that, skiff does not).
package namespacelifecycle
